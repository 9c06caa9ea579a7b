package futures

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"html/template"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/meshcompute/mesh/actors"
)

// PerformanceReport runs fn and writes to path a self-contained HTML file
// of what the mesh did meanwhile, as Dask's performance_report: the task
// stream (one row per worker thread, one box per task, coloured by task
// group, the time spent fetching inputs lighter, errors black), each
// group's count and durations, the bytes workers fetched from each other,
// the workers' memory over time, and the events (members dying or joining,
// leader changes, task errors). The file needs no network to open. It is
// written even when fn fails; fn's error is returned (joined with the
// report's, if writing it failed too).
//
// The task stream comes from each node's ring of its last 8192 tasks: a
// longer computation shows its last tasks per node (the report says so).
func (c *Client) PerformanceReport(ctx context.Context, path string, fn func(ctx context.Context) error) error {
	rec := &reportRecorder{c: c, start: time.Now()}
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { rec.sample(sctx) })
	ferr := fn(ctx)
	rec.end = time.Now()
	stop()
	wg.Wait()
	rerr := rec.write(context.WithoutCancel(ctx), path)
	if rerr != nil {
		rerr = fmt.Errorf("performance report %s: %w", path, rerr)
	}
	return errors.Join(ferr, rerr)
}

// reportSampleEvery is how often the report samples the workers' memory.
const reportSampleEvery = 250 * time.Millisecond

type reportRecorder struct {
	c          *Client
	start, end time.Time
	mu         sync.Mutex
	samples    []memSample
	members    map[string]actors.MemberStatus // by id, the last seen
}

type memSample struct {
	at      time.Time
	members []actors.MemberStatus
}

// sample records the members' load every reportSampleEvery until ctx ends.
func (r *reportRecorder) sample(ctx context.Context) {
	t := time.NewTicker(reportSampleEvery)
	defer t.Stop()
	for {
		qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := r.c.Status(qctx)
		cancel()
		if err == nil {
			r.mu.Lock()
			r.samples = append(r.samples, memSample{at: time.Now(), members: st.Members})
			if r.members == nil {
				r.members = map[string]actors.MemberStatus{}
			}
			for _, m := range st.Members {
				r.members[m.ID] = m
			}
			r.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// activity asks every member seen for its task stream and events since
// the start.
func (r *reportRecorder) activity(ctx context.Context) ([]*actors.Activity, []string) {
	r.mu.Lock()
	members := make([]actors.MemberStatus, 0, len(r.members))
	for _, m := range r.members {
		members = append(members, m)
	}
	r.mu.Unlock()
	if len(members) == 0 {
		if st, err := r.c.Status(ctx); err == nil {
			members = st.Members
		}
	}
	since := r.start.UnixMicro()
	var (
		mu       sync.Mutex
		out      []*actors.Activity
		problems []string
		wg       sync.WaitGroup
	)
	for _, m := range members {
		if m.State == "left" || m.State == "dead" {
			continue
		}
		p, err := peer.Decode(m.ID)
		if err != nil {
			continue
		}
		wg.Go(func() {
			actx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			reply, err := r.c.conn.Request(actx, p, actors.MembershipID, &actors.ActivityRequest{
				StreamSince: since, StreamLimit: 1 << 20, EventsSince: since, EventLimit: 1 << 20})
			mu.Lock()
			defer mu.Unlock()
			a, ok := reply.(*actors.Activity)
			if err != nil || !ok {
				problems = append(problems, fmt.Sprintf("no activity from %s (%s): %v", m.Name, shortPeer(m.ID), err))
				return
			}
			out = append(out, a)
		})
	}
	wg.Wait()
	return out, problems
}

func shortPeer(id string) string {
	if len(id) > 8 {
		return "…" + id[len(id)-8:]
	}
	return id
}

// The report's geometry.
const (
	reportWidth  = 1100 // px of the time axis
	reportRowH   = 14
	reportLabelW = 130
	reportMemH   = 160
)

type reportBox struct {
	X, W, FetchW float64
	Y            int
	Colour       template.CSS
	Title        string
	Erred        bool
}

type reportGroup struct {
	Name                   string
	Colour                 template.CSS
	Tasks, Errors          int
	Total, Mean, Max       string
	FetchBytes             string
	totalUS, maxUS, fetchB int64
}

type reportWorker struct {
	Name, ID              string
	Threads, Tasks        int
	Busy                  string
	FetchBytes, PeakStore string
	PeakRSS               string
	busyUS, fetchB, peak  int64
	rss                   uint64
}

type reportLine struct {
	Name, Points string
	Colour       template.CSS
}

type reportEvent struct {
	At, Kind, Node, Message string
}

type reportData struct {
	Title, Generated, Duration string
	Tasks, Errors, Workers     int
	Parallelism                string
	Width, LabelW, StreamH     int
	Rows                       []reportRow
	FullW                      int
	Ticks                      []reportTick
	Boxes                      []reportBox
	Groups                     []reportGroup
	WorkerRows                 []reportWorker
	MemH                       int
	MemLines                   []reportLine
	MemMax                     string
	Events                     []reportEvent
	Notes                      []string
}

type reportRow struct {
	Name string
	Y    int
}

type reportTick struct {
	X     float64
	Label string
}

// write gathers the activity and writes the HTML file.
func (r *reportRecorder) write(ctx context.Context, path string) error {
	acts, problems := r.activity(ctx)
	startUS, endUS := r.start.UnixMicro(), r.end.UnixMicro()
	span := float64(max(endUS-startUS, 1))
	x := func(us int64) float64 {
		return float64(min(max(us-startUS, 0), endUS-startUS)) / span * reportWidth
	}
	r.mu.Lock()
	names := map[string]string{}
	for id, m := range r.members {
		names[id] = m.Name
		if names[id] == "" {
			names[id] = shortPeer(id)
		}
	}
	samples := slices.Clone(r.samples)
	r.mu.Unlock()
	slices.SortFunc(acts, func(a, b *actors.Activity) int { return cmp.Compare(names[a.Node], names[b.Node]) })

	d := reportData{Title: "mesh performance report", Generated: r.end.Format(time.RFC3339),
		Duration: r.end.Sub(r.start).Round(time.Millisecond).String(), Width: reportWidth, LabelW: reportLabelW, MemH: reportMemH}
	d.Notes = problems
	groups := map[string]*reportGroup{}
	rowOf := map[[2]any]int{}
	var busyUS int64
	threads := 0
	for _, a := range acts {
		name := names[a.Node]
		if name == "" {
			name = shortPeer(a.Node)
		}
		w := reportWorker{Name: name, ID: shortPeer(a.Node), Threads: a.Threads}
		threads += max(a.Threads, 1)
		for t := range max(a.Threads, 1) {
			rowOf[[2]any{a.Node, t}] = len(d.Rows)
			d.Rows = append(d.Rows, reportRow{Name: fmt.Sprintf("%s #%d", name, t), Y: len(d.Rows)*reportRowH + 10})
		}
		if len(a.Stream) >= 8192 {
			d.Notes = append(d.Notes, fmt.Sprintf("%s ran more tasks than its task-stream ring keeps (8192): the stream shows its last ones", name))
		}
		for _, e := range a.Stream {
			if e.Stop < startUS || e.Start > endUS {
				continue
			}
			row, ok := rowOf[[2]any{a.Node, e.Thread}]
			if !ok {
				row = len(d.Rows)
				rowOf[[2]any{a.Node, e.Thread}] = row
				d.Rows = append(d.Rows, reportRow{Name: fmt.Sprintf("%s #%d", name, e.Thread), Y: row*reportRowH + 10})
			}
			g := groups[e.Group]
			if g == nil {
				g = &reportGroup{Name: e.Group, Colour: groupColour(e.Group)}
				groups[e.Group] = g
			}
			dur := e.Stop - e.Start
			g.Tasks++
			g.totalUS += dur
			g.maxUS = max(g.maxUS, dur)
			g.fetchB += e.FetchBytes
			erred := e.Outcome != "" && e.Outcome != "ok"
			if erred {
				g.Errors++
				d.Errors++
			}
			d.Tasks++
			w.Tasks++
			w.busyUS += dur
			w.fetchB += e.FetchBytes
			busyUS += dur
			x0, x1 := x(e.Start), x(e.Stop)
			d.Boxes = append(d.Boxes, reportBox{X: reportLabelW + x0, W: max(x1-x0, 0.5), FetchW: max(x(e.Compute)-x0, 0), Y: row * reportRowH,
				Colour: g.Colour, Erred: erred,
				Title: fmt.Sprintf("%s\n%s on %s #%d: %s (inputs %s, %s fetched)%s", e.Key, e.Group, name, e.Thread,
					time.Duration(dur)*time.Microsecond, time.Duration(e.Compute-e.Start)*time.Microsecond, bytesText(e.FetchBytes), outcomeText(e.Outcome))})
		}
		for _, ev := range a.Events {
			d.Events = append(d.Events, reportEvent{At: time.UnixMicro(ev.Time).Format("15:04:05.000"), Kind: ev.Kind, Node: names[ev.Node], Message: ev.Message})
		}
		w.Busy = (time.Duration(w.busyUS) * time.Microsecond).Round(time.Millisecond).String()
		w.FetchBytes = bytesText(w.fetchB)
		d.WorkerRows = append(d.WorkerRows, w)
	}
	d.Workers = len(acts)
	d.FullW = reportLabelW + reportWidth + 30
	d.StreamH = max(len(d.Rows), 1) * reportRowH
	if threads > 0 && endUS > startUS {
		d.Parallelism = fmt.Sprintf("%.0f%%", 100*float64(busyUS)/(float64(threads)*span))
	}
	for i := range 6 {
		us := int64(float64(i) / 5 * span)
		d.Ticks = append(d.Ticks, reportTick{X: reportLabelW + float64(i)/5*reportWidth, Label: (time.Duration(us) * time.Microsecond).Round(time.Millisecond).String()})
	}
	for _, g := range groups {
		g.Total = (time.Duration(g.totalUS) * time.Microsecond).Round(time.Microsecond).String()
		g.Mean = (time.Duration(g.totalUS/int64(max(g.Tasks, 1))) * time.Microsecond).Round(time.Microsecond).String()
		g.Max = (time.Duration(g.maxUS) * time.Microsecond).Round(time.Microsecond).String()
		g.FetchBytes = bytesText(g.fetchB)
		d.Groups = append(d.Groups, *g)
	}
	slices.SortFunc(d.Groups, func(a, b reportGroup) int { return cmp.Compare(b.totalUS, a.totalUS) })
	slices.SortFunc(d.Events, func(a, b reportEvent) int { return cmp.Compare(a.At, b.At) })

	// Memory over time: each member's store bytes (memory + spilled).
	var peak int64 = 1
	series := map[string][][2]float64{}
	peakOf := map[string]int64{}
	rssOf := map[string]uint64{}
	for _, s := range samples {
		for _, m := range s.members {
			b := m.StoreBytes + m.SpilledBytes
			peak = max(peak, b)
			peakOf[m.ID] = max(peakOf[m.ID], b)
			rssOf[m.ID] = max(rssOf[m.ID], m.RSS)
			series[m.ID] = append(series[m.ID], [2]float64{x(s.at.UnixMicro()), float64(b)})
		}
	}
	ids := make([]string, 0, len(series))
	for id := range series {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(names[a], names[b]) })
	for _, id := range ids {
		var pts strings.Builder
		for _, p := range series[id] {
			fmt.Fprintf(&pts, "%.1f,%.1f ", reportLabelW+p[0], float64(reportMemH)-p[1]/float64(peak)*(reportMemH-10))
		}
		d.MemLines = append(d.MemLines, reportLine{Name: names[id], Colour: groupColour("worker " + id), Points: pts.String()})
	}
	d.MemMax = bytesText(peak)
	for i := range d.WorkerRows {
		for id, name := range names {
			if name == d.WorkerRows[i].Name {
				d.WorkerRows[i].PeakStore = bytesText(peakOf[id])
				d.WorkerRows[i].PeakRSS = bytesText(int64(rssOf[id]))
			}
		}
	}

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := reportTemplate.Execute(f, d); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func outcomeText(o string) string {
	if o == "" || o == "ok" {
		return ""
	}
	return " — " + o
}

// groupColour is a stable colour for a name.
func groupColour(name string) template.CSS {
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32()
	return template.CSS(fmt.Sprintf("hsl(%d, %d%%, %d%%)", v%360, 55+v/360%25, 42+v/9000%16))
}

func bytesText(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	f, i := float64(b), 0
	for f >= unit && i < 5 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", f, "KMGTP"[i-1])
}

var reportTemplate = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1f2933;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.sum{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{background:#fff;border:1px solid #d9e2ec;border-radius:6px;padding:8px 14px}
.card b{display:block;font-size:18px}
table{border-collapse:collapse;background:#fff;border:1px solid #d9e2ec}
th,td{padding:4px 10px;border-bottom:1px solid #eef2f6;text-align:right} th{background:#f0f4f8}
td:first-child,th:first-child{text-align:left}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
svg{background:#fff;border:1px solid #d9e2ec}
svg text{font:11px system-ui,sans-serif;fill:#52606d}
.note{color:#8d2b0b}
</style></head><body>
<h1>{{.Title}}</h1>
<div>generated {{.Generated}}</div>
<div class="sum">
<div class="card">duration<b>{{.Duration}}</b></div>
<div class="card">tasks<b>{{.Tasks}}</b></div>
<div class="card">erred<b>{{.Errors}}</b></div>
<div class="card">workers<b>{{.Workers}}</b></div>
<div class="card">threads busy<b>{{.Parallelism}}</b></div>
</div>
{{range .Notes}}<p class="note">{{.}}</p>{{end}}
<h2>Task stream</h2>
<div>One row per worker thread, one box per task, coloured by task group; the lighter start of a box is the time its inputs took to arrive; black: erred. Hover for details.</div>
<svg id="stream" width="{{.FullW}}" height="{{.StreamH}}">
{{range .Rows}}<text x="2" y="{{.Y}}">{{.Name}}</text>
{{end}}{{range .Boxes}}<g class="task"><title>{{.Title}}</title><rect x="{{printf "%.1f" .X}}" y="{{.Y}}" width="{{printf "%.1f" .W}}" height="12" fill="{{if .Erred}}#111{{else}}{{.Colour}}{{end}}"/>{{if gt .FetchW 0.5}}<rect x="{{printf "%.1f" .X}}" y="{{.Y}}" width="{{printf "%.1f" .FetchW}}" height="12" fill="#fff" fill-opacity="0.55"/>{{end}}</g>
{{end}}</svg>
<svg width="{{.FullW}}" height="18" style="border:0;background:none">{{range .Ticks}}<text x="{{printf "%.0f" .X}}" y="12" text-anchor="middle">{{.Label}}</text>{{end}}</svg>
<h2>Task groups</h2>
<table><tr><th>group</th><th>tasks</th><th>erred</th><th>total time</th><th>mean</th><th>max</th><th>inputs fetched</th></tr>
{{range .Groups}}<tr><td><span class="sw" style="background:{{.Colour}}"></span>{{.Name}}</td><td>{{.Tasks}}</td><td>{{.Errors}}</td><td>{{.Total}}</td><td>{{.Mean}}</td><td>{{.Max}}</td><td>{{.FetchBytes}}</td></tr>
{{end}}</table>
<h2>Workers and transfers</h2>
<table><tr><th>worker</th><th>id</th><th>threads</th><th>tasks</th><th>busy</th><th>inputs fetched from others</th><th>peak store</th><th>peak RSS</th></tr>
{{range .WorkerRows}}<tr><td>{{.Name}}</td><td>{{.ID}}</td><td>{{.Threads}}</td><td>{{.Tasks}}</td><td>{{.Busy}}</td><td>{{.FetchBytes}}</td><td>{{.PeakStore}}</td><td>{{.PeakRSS}}</td></tr>
{{end}}</table>
<h2>Worker memory</h2>
<div>Bytes of results each worker held (in memory and spilled), sampled every 250 ms; top of the chart: {{.MemMax}}.</div>
<svg id="memory" width="{{.FullW}}" height="{{.MemH}}">
{{range .MemLines}}<polyline class="mem" fill="none" stroke="{{.Colour}}" stroke-width="2" points="{{.Points}}"><title>{{.Name}}</title></polyline>
{{end}}</svg>
<div>{{range .MemLines}}<span style="margin-right:14px"><span class="sw" style="background:{{.Colour}}"></span>{{.Name}}</span>{{end}}</div>
<h2>Events</h2>
{{if .Events}}<table><tr><th>time</th><th>kind</th><th>recorded by</th><th style="text-align:left">what</th></tr>
{{range .Events}}<tr><td>{{.At}}</td><td>{{.Kind}}</td><td>{{.Node}}</td><td style="text-align:left">{{.Message}}</td></tr>
{{end}}</table>{{else}}<p>none: no member joined, died or left, no leader change, no task erred.</p>{{end}}
</body></html>
`))
