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

	"github.com/meshcompute/mesh/actors"
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

// WithProgress makes the client's Compute — and so every collection's
// compute — draw a live bar of the graph's tasks done / total while its
// outputs are pending, as Dask's ProgressBar: on standard error when that
// is a terminal (ProgressTo draws anywhere), and only for computations
// that last longer than half a second. MESH_PROGRESS=1 turns it on for
// every client, MESH_PROGRESS=0 off whatever the option.
func WithProgress(opts ...ProgressOption) Option {
	return func(o *options) { o.progress, o.progOn = opts, true }
}

// progressWanted applies MESH_PROGRESS to the option's choice.
func progressWanted(opt bool) bool {
	switch os.Getenv("MESH_PROGRESS") {
	case "1", "true", "on":
		return true
	case "0", "false", "off":
		return false
	}
	return opt
}

// progressDelay: a computation shorter than this draws no bar.
const progressDelay = 500 * time.Millisecond

// graphProgress draws the bar of one Compute: keys are the graph's tasks,
// outs its outputs. It returns when the outputs are done, or the client
// closes; the client owns it (c.wg).
func (c *Client) graphProgress(keys []string, outs []*Future) {
	defer c.wg.Done()
	o := progressOpts{out: os.Stderr, name: "tasks"}
	for _, opt := range c.progress {
		opt(&o)
	}
	if !o.force {
		if f, ok := o.out.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
			return
		}
	}
	allDone := func() bool {
		for _, f := range outs {
			if !f.Done() {
				return false
			}
		}
		return true
	}
	t := time.NewTimer(progressDelay)
	defer t.Stop()
	for !allDone() {
		select {
		case <-c.bg.Done():
			return
		case <-t.C:
			c.drawGraphProgress(o, keys, allDone)
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *Client) drawGraphProgress(o progressOpts, keys []string, allDone func() bool) {
	popts := []mpb.ContainerOption{mpb.WithOutput(o.out), mpb.WithWidth(40), mpb.WithRefreshRate(150 * time.Millisecond)}
	if o.force {
		popts = append(popts, mpb.WithAutoRefresh())
	}
	ctx, cancel := context.WithCancel(c.bg)
	defer cancel()
	p := mpb.NewWithContext(ctx, popts...)
	bar := p.AddBar(int64(len(keys)),
		mpb.PrependDecorators(decor.Name(o.name+" "), decor.CountersNoUnit("%d / %d")),
		mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO), decor.Name(" "), decor.AverageSpeed(0, "%.0f/s")),
	)
	erred := 0
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		finished := allDone()
		qctx, qcancel := context.WithTimeout(ctx, 2*time.Second)
		r, err := c.toScheduler(qctx, &actors.ProgressRequest{Keys: keys})
		qcancel()
		if pr, ok := r.(*actors.ProgressReply); err == nil && ok {
			// Unknown keys were computed and forgotten (nothing needs
			// them any more): done.
			bar.SetCurrent(int64(pr.Done + pr.Unknown + pr.Erred))
			erred = pr.Erred
		}
		if finished {
			bar.SetCurrent(int64(len(keys)))
			break
		}
		select {
		case <-c.bg.Done():
			bar.Abort(false)
			p.Wait()
			return
		case <-tick.C:
		}
	}
	p.Wait()
	if erred > 0 {
		_, _ = io.WriteString(o.out, strconv.Itoa(erred)+" erred (Gather or Result gives their errors)\n")
	}
}
