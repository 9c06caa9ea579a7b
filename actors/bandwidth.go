package actors

import (
	"sync"
	"time"
)

// Transfer bandwidth, measured as Dask measures it: each worker keeps a
// moving average of the rate at which it fetches inputs of at least
// bandwidthMinBytes from other nodes and sends it with every batch of
// results; the scheduler prices moving a task's inputs (placement and work
// stealing) at the mean of its workers' rates. Until a worker has measured
// a fetch the scheduler assumes defaultBandwidth. Nodes sharing a process
// hand values over without a copy, so their rate is high (capped at
// maxBandwidth), and the scheduler spreads work more freely among them.
const (
	// defaultBandwidth: 100 MB/s (Dask's distributed.scheduler.bandwidth).
	defaultBandwidth = 100e6
	// maxBandwidth caps a measured rate (bytes per second): an in-process
	// hand-over takes microseconds whatever its size.
	maxBandwidth = 10e9
	// bandwidthMinBytes: smaller fetches measure latency, not bandwidth.
	bandwidthMinBytes = 1 << 20
	// bandwidthWeight is the weight of a new fetch in the moving average.
	bandwidthWeight = 0.2
)

// bandwidthMeter is a worker's moving average of its fetch rate.
type bandwidthMeter struct {
	mu          sync.Mutex
	bytesPerSec float64 // 0: nothing measured yet
}

// observe records a fetch of bytes that took d.
func (b *bandwidthMeter) observe(bytes int, d time.Duration) {
	if bytes < bandwidthMinBytes {
		return
	}
	rate := maxBandwidth
	if d > 0 {
		rate = min(float64(bytes)/d.Seconds(), maxBandwidth)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bytesPerSec == 0 {
		b.bytesPerSec = rate
		return
	}
	b.bytesPerSec = (1-bandwidthWeight)*b.bytesPerSec + bandwidthWeight*rate
}

// rate is the moving average in bytes per second (0: nothing measured).
func (b *bandwidthMeter) rate() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bytesPerSec
}

// transferRate is the bytes per microsecond the scheduler assumes a fetch
// between workers moves.
func (g *graph) transferRate() float64 {
	if g.bytesPerMicro <= 0 {
		return defaultBandwidth / 1e6
	}
	return g.bytesPerMicro
}

// noteBandwidth records the rate a worker reported (bytes per second, 0:
// none measured) and updates the mean the scheduler prices transfers at.
func (g *graph) noteBandwidth(worker string, bytesPerSec float64) {
	w := g.workers[worker]
	if w == nil || bytesPerSec <= 0 || bytesPerSec == w.bandwidth {
		return
	}
	w.bandwidth = min(bytesPerSec, maxBandwidth)
	g.updateTransferRate()
}

// updateTransferRate sets bytesPerMicro to the mean of the workers'
// measured bandwidths (after a report, or a worker's leaving).
func (g *graph) updateTransferRate() {
	sum, n := 0.0, 0
	for _, w := range g.workers {
		if w.bandwidth > 0 {
			sum += w.bandwidth
			n++
		}
	}
	if n == 0 {
		g.bytesPerMicro = 0
		return
	}
	g.bytesPerMicro = sum / float64(n) / 1e6
}
