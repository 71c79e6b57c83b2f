package socketio

import (
	"encoding/json"
	"sync"
	"sync/atomic"
)

// Namespace is one Socket.IO namespace: its connect hook, its event handlers
// and its disconnect hook. Set the hooks and handlers before serving; On may
// also be called later, but the hooks are read without synchronisation.
type Namespace struct {
	name   string
	prefix []byte // "/admin," or empty for "/", written in every packet

	// OnConnect decides whether a client may join, given its auth payload
	// (nil when the client sent none). Returning an error refuses it: the
	// client gets CONNECT_ERROR with the error's text as message, or with
	// Data too when the error is a *ConnectError. The socket exists already:
	// the hook may attach data and register it elsewhere; what it emits
	// reaches the client right after the CONNECT reply. To refuse, return an
	// error rather than calling Disconnect. Nil accepts all.
	OnConnect func(s *Socket, auth json.RawMessage) error
	// OnDisconnect runs once for every socket whose OnConnect accepted it.
	OnDisconnect func(s *Socket, reason Reason)
	// OnUnknown, when set, handles events that have no handler (so the
	// application can answer them with an error); otherwise they are
	// ignored.
	OnUnknown EventHandler
	// Admit, when set, runs before the handler of every event (OnUnknown's
	// included), one at a time per client like the handlers. Returning
	// false drops the event; Admit must then have answered it (through
	// ev.Ack or otherwise). It is where limits that span events go.
	Admit func(s *Socket, ev Event) bool

	mu       sync.Mutex
	handlers atomic.Pointer[map[string]*handler]
}

// EventHandler handles one event from a client. Handlers of one client run
// one at a time, in the order the client sent the events.
type EventHandler func(s *Socket, ev Event)

// Event is one received event. Its slices belong to the handler, which may
// keep them.
type Event struct {
	// Name is the event name (a number's JSON text for numeric names).
	Name string
	// Args are the JSON arguments after the name, valid JSON each. Binary
	// arguments appear as {"_placeholder":true,"num":N}; see Placeholder.
	Args []json.RawMessage
	// Attachments are the binary arguments, in placeholder order.
	Attachments [][]byte
	// Ack answers the event; nil when the client asked for no answer.
	Ack AckFunc
	// InvalidUTF8 is set when the packet's text is not valid UTF-8. The
	// event is delivered all the same, its strings as the client wrote
	// them, so the application can refuse it with an answer instead of
	// the connection being dropped (WebSocket) or the text silently
	// altered (JSON decoding), whichever transport it came on.
	InvalidUTF8 bool
}

type handler struct {
	name string
	fn   EventHandler
}

// ConnectError refuses a connection with a message and optional data, sent
// to the client as CONNECT_ERROR {"message": ..., "data": ...}.
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return e.Message }

// Name returns the namespace's name, such as "/".
func (n *Namespace) Name() string { return n.name }

// On registers the handler for an event, replacing any earlier one. Events
// without a handler go to OnUnknown, or are ignored.
func (n *Namespace) On(event string, fn EventHandler) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := make(map[string]*handler)
	if old := n.handlers.Load(); old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[event] = &handler{name: event, fn: fn}
	n.handlers.Store(&m)
}

// handler looks an event up; the conversion does not allocate.
func (n *Namespace) handler(name []byte) *handler {
	m := n.handlers.Load()
	if m == nil {
		return nil
	}
	return (*m)[string(name)]
}

// Placeholder reports whether arg is a binary placeholder and which
// attachment it stands for.
func Placeholder(arg json.RawMessage) (num int, ok bool) {
	if len(arg) == 0 || arg[0] != '{' {
		return 0, false
	}
	var p struct {
		Placeholder bool `json:"_placeholder"`
		Num         *int `json:"num"`
	}
	if json.Unmarshal(arg, &p) != nil || !p.Placeholder || p.Num == nil || *p.Num < 0 {
		return 0, false
	}
	return *p.Num, true
}
