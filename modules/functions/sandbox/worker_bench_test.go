package sandbox

import (
	"bufio"
	"encoding/json"
	"io"
	"testing"
	"time"
)

// BenchmarkServe is the worker's side of one trivial run, over in-memory pipes.
func BenchmarkServe(b *testing.B) {
	toW, fromNode := io.Pipe()
	fromW, toNode := io.Pipe()
	go Serve(toW, toNode)
	out := bufio.NewReader(fromW)
	code := `var x = {}; module.exports.default = async (ctx) => ({message: "hello", n: ctx.input.n})`
	in, _ := json.Marshal(Input{Trigger: "manual", Input: json.RawMessage(`{"n":2}`)})
	b.ResetTimer()
	for i := range b.N {
		f := &Frame{Op: "run", Run: uint64(i + 1), Key: "k", Code: code, Input: in, Limits: &Limits{TimeoutMs: 5000, MemoryMB: 64, Output: 1 << 20, Stack: 1000, StartedAt: time.Now().UnixMilli()}}
		if err := WriteFrame(fromNode, f); err != nil {
			b.Fatal(err)
		}
		r, err := ReadFrame(out)
		if err != nil || r.Op != "done" {
			b.Fatal(err, r)
		}
	}
	fromNode.Close()
}
