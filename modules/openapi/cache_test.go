package openapi

import (
	"bytes"
	"testing"

	"strata/schema"
)

// TestCacheYAML: a tenant's YAML document is converted once per model and made again
// for a new one, and says what the JSON says.
func TestCacheYAML(t *testing.T) {
	var c Cache
	m1 := &schema.Model{Tables: []schema.Table{{Name: "posts", Columns: []schema.Column{{Name: "id", Type: schema.TypeUUID, System: true}}}}}
	y1, err := c.GetYAML("t", "acme", "Acme", 1, m1)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := c.GetYAML("t", "acme", "Acme", 1, m1)
	if &again[0] != &y1[0] {
		t.Error("the same model's YAML was converted again")
	}
	if !bytes.Contains(y1, []byte("/items/posts")) || !bytes.Contains(y1, []byte("\nopenapi: ")) {
		t.Errorf("YAML: %.200s", y1)
	}
	m2 := &schema.Model{Tables: []schema.Table{{Name: "notes", Columns: []schema.Column{{Name: "id", Type: schema.TypeUUID, System: true}}}}}
	y2, _ := c.GetYAML("t", "acme", "Acme", 2, m2)
	if bytes.Contains(y2, []byte("/items/posts")) || !bytes.Contains(y2, []byte("/items/notes")) {
		t.Errorf("a new model kept the old document: %.200s", y2)
	}
}
