package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzReadFrame: whatever a broken or hostile worker writes, reading it fails cleanly
// or gives a frame that writes back the same.
func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteFrame(&buf, &Frame{Op: "call", Run: 1, Seq: 2, Name: "items", Args: json.RawMessage(`{"table":"posts"}`)})
	f.Add(buf.Bytes())
	f.Add([]byte{0, 0, 0, 2, '{', '}'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := ReadFrame(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteFrame(&out, fr); err != nil {
			t.Fatalf("a frame read could not be written: %v", err)
		}
		again, err := ReadFrame(bufio.NewReader(&out))
		if err != nil || !reflect.DeepEqual(normal(again), normal(fr)) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, fr, again)
		}
	})
}

// normal re-encodes raw JSON fields, which a round trip may re-space or re-escape
// (`&` as \u0026) without changing what they say.
func normal(f *Frame) Frame {
	c := *f
	for _, raw := range []*json.RawMessage{&c.Input, &c.Args, &c.Result} {
		var v any
		if len(*raw) > 0 && json.Unmarshal(*raw, &v) == nil {
			*raw, _ = json.Marshal(v)
		}
	}
	return c
}
