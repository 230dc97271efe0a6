// Package sandbox runs tenant functions in a worker process: a child of the node that
// holds a JavaScript engine (goja) and nothing else. The node and the worker talk over
// the worker's stdin and stdout in frames (a 4-byte length, then JSON). Everything a
// function may reach outside itself (rows, fetch) is a call back to the node, which
// decides; the worker has no database, no network of its own and no environment.
//
// A worker runs one function at a time; the node may queue the next behind it. While a
// function waits on a call, the node may start a nested run on the same worker (a hook
// fired by the function's own write); it runs to the end before the call returns.
package sandbox

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	json "github.com/goccy/go-json"
)

// MaxFrame bounds one frame either way; a larger one is a broken worker or node.
const MaxFrame = 64 << 20

// Frame is one message. Op says which fields are used:
//   - "run" (node → worker): Run, Parent, Scope, Key, Code, Input, Limits;
//   - "call" (worker → node): Run, Seq, Name, Args;
//   - "reply" (node → worker): Run, Seq, Result or Error;
//   - "done" (worker → node): Run and Result (the outcome), Leaving.
type Frame struct {
	Op  string `json:"op"`
	Run uint64 `json:"run"`
	// Parent, on a run frame, is the run whose call started it: it runs now, inside
	// that call. A run without one is queued behind the run under way.
	Parent uint64 `json:"parent,omitempty"`
	// Scope is the tenant a run is for: warm engines are kept per tenant and code.
	Scope string `json:"scope,omitempty"`
	// Leaving, on a done frame, says the worker exits after it (over memory, or grown).
	Leaving bool            `json:"leaving,omitempty"`
	Seq     uint64          `json:"seq,omitempty"`
	Key     string          `json:"key,omitempty"`
	Code    string          `json:"code,omitempty"`
	Input   json.RawMessage `json:"input,omitempty"`
	Limits  *Limits         `json:"limits,omitempty"`
	Name    string          `json:"name,omitempty"`
	Args    json.RawMessage `json:"args,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *CallError      `json:"error,omitempty"`
}

// Limits bound one run.
type Limits struct {
	TimeoutMs int   `json:"timeout_ms"`
	MemoryMB  int   `json:"memory_mb"`
	Output    int   `json:"output"`     // bytes of the JSON result
	Logs      int   `json:"logs"`       // bytes of log lines kept
	Stack     int   `json:"stack"`      // JavaScript call depth
	StartedAt int64 `json:"started_at"` // unix ms; the deadline counts from here
}

// CallError is a call the node refused: an API error, as the contract names it.
type CallError struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Input is what a function's ctx is made of (the node encodes it once per run).
type Input struct {
	Trigger string            `json:"trigger"` // endpoint, hook, schedule, manual
	Request any               `json:"request,omitempty"`
	Event   any               `json:"event,omitempty"`
	User    any               `json:"user,omitempty"`
	Tenant  any               `json:"tenant,omitempty"`
	Input   json.RawMessage   `json:"input,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
}

// Outcome is how a run ended.
type Outcome struct {
	// Status: success, error (thrown), rejected (ctx.reject), timeout, memory, invalid;
	// retry from a worker that is leaving: the run did not start, and goes to another.
	Status string `json:"status"`
	// Output is the returned value as JSON (null when nothing was returned).
	Output json.RawMessage `json:"output,omitempty"`
	// Response is set when the function returned ctx.response(…).
	Response *Response `json:"response,omitempty"`
	// Payload is a before hook's event payload after the function ran.
	Payload json.RawMessage `json:"payload,omitempty"`
	Logs    []Log           `json:"logs,omitempty"`
	// LogsCut reports that log lines past Limits.Logs were dropped.
	LogsCut bool   `json:"logs_cut,omitempty"`
	Error   string `json:"error,omitempty"`
	// Reject is the refusal a function chose with ctx.reject.
	Reject *CallError `json:"reject,omitempty"`
}

// Response is an endpoint's own answer.
type Response struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// Log is one line of ctx.log, ctx.warn or ctx.error.
type Log struct {
	Level   string `json:"level"`
	Message string `json:"message"`
	At      int64  `json:"at"` // ms since the run started
}

// WriteFrame writes f to w as one frame.
func WriteFrame(w io.Writer, f *Frame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode frame: %w", err)
	}
	if len(b) > MaxFrame {
		return fmt.Errorf("frame of %d bytes is over %d", len(b), MaxFrame)
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	_, err = w.Write(buf)
	return err
}

// ReadFrame reads one frame from r.
func ReadFrame(r *bufio.Reader) (*Frame, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n > MaxFrame {
		return nil, fmt.Errorf("frame of %d bytes is over %d", n, MaxFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, errors.Join(errors.New("short frame"), err)
	}
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode frame: %w", err)
	}
	return &f, nil
}
