package consensus

import (
	"reflect"

	"github.com/hashicorp/raft"
)

// wait returns a raft future's error, or raft.ErrRaftShutdown once the node
// closes. Raft drops entries that were committed but not yet applied when
// it shuts down, and their futures then never answer: a goroutine waiting
// on one would block forever (a node's Close waited on exactly that).
// Raft's futures carry an exported ShutdownCh that Error also waits on, but
// Apply and the membership changes leave it nil; wait sets it to the
// node's closing channel before waiting. Only Error reads it, and only
// this goroutine calls Error.
func (n *Node) wait(f raft.Future) error {
	armShutdown(f, n.closing)
	return f.Error()
}

// armShutdown sets f's ShutdownCh when f has one (every future raft
// returns embeds it), and reports whether it could.
func armShutdown(f raft.Future, ch chan struct{}) bool {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return false
	}
	field := v.Elem().FieldByName("ShutdownCh")
	if !field.IsValid() || !field.CanSet() || field.Type() != reflect.TypeOf(ch) {
		return false
	}
	if field.IsNil() {
		field.Set(reflect.ValueOf(ch))
	}
	return true
}
