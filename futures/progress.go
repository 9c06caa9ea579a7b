package futures

import (
	"context"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// ProgressOption configures Progress.
type ProgressOption func(*progressOpts)

type progressOpts struct {
	out   io.Writer
	force bool
	name  string
}

// ProgressTo draws the bar on w, terminal or not (default: standard error,
// and only when it is a terminal).
func ProgressTo(w io.Writer) ProgressOption {
	return func(o *progressOpts) { o.out, o.force = w, true }
}

// ProgressName labels the bar (default "tasks").
func ProgressName(name string) ProgressOption { return func(o *progressOpts) { o.name = name } }

// Progress waits until every future has finished (in memory, erred or
// cancelled), drawing a live bar of how many have — finished / total,
// erred, elapsed time and rate — on standard error when that is a
// terminal, and drawing nothing otherwise (ProgressTo draws anywhere). It
// returns ctx's error if ctx ends first; the futures' own errors are for
// Gather or Result. As Dask's progress(futures).
func (c *Client) Progress(ctx context.Context, fs []*Future, opts ...ProgressOption) error {
	o := progressOpts{out: os.Stderr, name: "tasks"}
	for _, opt := range opts {
		opt(&o)
	}
	if !o.force {
		if f, ok := o.out.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
			o.out = nil
		}
	}
	var bar *mpb.Bar
	var p *mpb.Progress
	if o.out != nil {
		popts := []mpb.ContainerOption{mpb.WithOutput(o.out), mpb.WithWidth(40), mpb.WithRefreshRate(150 * time.Millisecond)}
		if o.force {
			popts = append(popts, mpb.WithAutoRefresh()) // mpb draws on its own only to a terminal
		}
		p = mpb.NewWithContext(ctx, popts...)
		bar = p.AddBar(int64(len(fs)),
			mpb.PrependDecorators(decor.Name(o.name+" "), decor.CountersNoUnit("%d / %d")),
			mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO), decor.Name(" "), decor.AverageSpeed(0, "%.0f/s")),
		)
	}
	var err error
	erred := 0
	for f, ferr := range c.AsCompleted(ctx, fs) {
		if f == nil { // ctx ended
			err = ferr
			break
		}
		if ferr != nil {
			erred++
		}
		if bar != nil {
			bar.Increment()
		}
	}
	if p != nil {
		if err != nil {
			bar.Abort(false)
		}
		p.Wait()
		if erred > 0 {
			_, _ = io.WriteString(o.out, strconv.Itoa(erred)+" erred (Gather or Result gives their errors)\n")
		}
	}
	return err
}
