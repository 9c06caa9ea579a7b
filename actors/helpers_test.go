package actors

import (
	"go.uber.org/goleak"

	"github.com/meshcompute/mesh/mesh"
)

func newTestSecret() (mesh.Secret, error) { return mesh.NewSecret() }
func errCorrupt() error                   { return mesh.ErrCorruptDataDir }

// leakOptions lists goroutines of third-party libraries that outlive a
// closed node by design.
func leakOptions() []goleak.Option {
	return []goleak.Option{
		// protoactor's dead-letter log throttle waits out its interval
		// after the last dead letter, even past ActorSystem.Shutdown.
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
	}
}
