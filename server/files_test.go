package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gen2brain/webp"

	"strata/internal/testkit"
	"strata/modules/files"
)

// pngImage is a w×h PNG.
func pngImage(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			img.Set(x, y, color.RGBA{R: uint8(x), G: uint8(y), B: 200, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// formPart is one part of an upload: a field (no filename) or a file.
type formPart struct {
	name, filename string
	body           []byte
}

func field(name, value string) formPart { return formPart{name: name, body: []byte(value)} }
func file(name string, body []byte) formPart {
	return formPart{name: "file", filename: name, body: body}
}

// upload sends a multipart body; it answers the status and the reply.
func (n *node) upload(method, path string, parts ...formPart) (int, reply) {
	n.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		var pw io.Writer
		var err error
		if p.filename != "" {
			pw, err = w.CreateFormFile(p.name, p.filename)
		} else {
			pw, err = w.CreateFormField(p.name)
		}
		if err != nil {
			n.t.Fatal(err)
		}
		_, _ = pw.Write(p.body)
	}
	_ = w.Close()
	return n.call(method, path, buf.String(), map[string]string{"Content-Type": w.FormDataContentType()})
}

// raw sends a request and answers the response with its body read.
func (n *node) raw(method, path string, headers map[string]string) (*http.Response, []byte) {
	n.t.Helper()
	return n.sendRaw(method, n.base+path, headers, nil)
}

// sendRaw sends a request to a full URL as the node's token holder.
func (n *node) sendRaw(method, url string, headers map[string]string, body []byte) (*http.Response, []byte) {
	n.t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if n.token != "" {
		req.Header.Set("Authorization", "Bearer "+n.token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// storedObjects lists the objects a tenant has in a node's default location.
func storedObjects(t *testing.T, n *node, tenantID string) []string {
	t.Helper()
	b, err := n.app.Files.Locations.Get(n.app.Files.Locations.Default)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := b.List(context.Background(), tenantID+"/")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		if key := strings.TrimPrefix(o.Key, tenantID+"/"); !strings.HasPrefix(key, "transforms/") {
			out = append(out, key)
		}
	}
	return out
}

// cachedTransforms lists the transformations a tenant has cached.
func cachedTransforms(t *testing.T, n *node, tenantID string) []string {
	t.Helper()
	b, _ := n.app.Files.Locations.Get(n.app.Files.Locations.Default)
	objs, err := b.List(context.Background(), tenantID+"/transforms/")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}

// locations are the storage set-ups the files tests run on: the local disk, and an S3
// store over HTTP (an S3-protocol server in this process, spoken to by the real client).
func locations(t *testing.T) map[string]map[string]string {
	return map[string]map[string]string{
		"local": nil,
		"s3": {"STRATA_STORAGE_LOCATIONS": "s3", "STRATA_STORAGE_S3_ENDPOINT": testkit.S3Server(t), "STRATA_STORAGE_S3_BUCKET": "strata-files",
			"STRATA_STORAGE_S3_KEY": "key", "STRATA_STORAGE_S3_SECRET": "secret", "STRATA_STORAGE_S3_FORCE_PATH_STYLE": "true"},
	}
}

// TestFiles walks the files contract on every backend with local storage: uploads and
// their metadata, assets with validators and ranges, the type, size and quota limits,
// replacing and deleting bytes, folders, and that nothing crosses a tenant.
func TestFiles(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		for where, env := range locations(t) {
			t.Run(b.name+"/"+where, func(t *testing.T) {
				t.Parallel()
				filesContract(t, startNode(t, b.newControlURL(t), env), where)
			})
		}
	}
}

func filesContract(t *testing.T, n *node, where string) {
	acme := n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"}).get("data.id").(string)
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "other"})
	p := "/api/t/acme"
	pic := pngImage(t, 40, 30)

	// An upload: fields first, then the file; the server reads what it is.
	st, r := n.upload("POST", p+"/files", field("title", "Red"), field("tags", `["a","b"]`), file("red.png", pic))
	if st != 200 || r.get("data.type") != "image/png" || r.get("data.width") != 40.0 || r.get("data.height") != 30.0 ||
		r.get("data.filesize") != float64(len(pic)) || r.get("data.title") != "Red" || r.get("data.tags.1") != "b" ||
		r.get("data.filename_download") != "red.png" || r.get("data.storage") != where || r.get("data.uploaded_on") == nil {
		t.Fatalf("upload: %d %s", st, r)
	}
	id := r.get("data.id").(string)
	if objs := storedObjects(t, n, acme); len(objs) != 1 || objs[0] != id+".png" {
		t.Fatalf("stored objects: %v", objs)
	}
	// Several files in one request: an array, each with the fields sent before it.
	st, r = n.upload("POST", p+"/files", field("title", "One"), file("a.txt", []byte("alpha")), file("b.txt", []byte("beta")))
	if st != 200 || r.get("data.0.title") != "One" || r.get("data.1.title") != "B" || r.get("data.1.type") != "text/plain" {
		t.Fatalf("two files: %d %s", st, r)
	}
	text := r.get("data.0.id").(string)
	if st, r := n.call("GET", p+`/files?fields=id&filter={"type":{"_starts_with":"image/"}}`, nil, nil); st != 200 || len(r.get("data").([]any)) != 1 {
		t.Fatalf("filter by type: %d %s", st, r)
	}

	// Assets: the bytes, validators, ranges.
	resp, body := n.raw("GET", p+"/assets/"+id, nil)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || !bytes.Equal(body, pic) || resp.Header.Get("Content-Type") != "image/png" || etag == "" ||
		resp.Header.Get("Last-Modified") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "inline") {
		t.Fatalf("asset: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, body := n.raw("GET", p+"/assets/"+id, map[string]string{"Range": "bytes=10-19"}); resp.StatusCode != 206 ||
		!bytes.Equal(body, pic[10:20]) || resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 10-19/%d", len(pic)) {
		t.Fatalf("range: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, body := n.raw("GET", p+"/assets/"+id, map[string]string{"Range": "bytes=-5"}); resp.StatusCode != 206 || !bytes.Equal(body, pic[len(pic)-5:]) {
		t.Fatalf("suffix range: %d", resp.StatusCode)
	}
	if resp, _ := n.raw("GET", p+"/assets/"+id, map[string]string{"Range": fmt.Sprintf("bytes=%d-", len(pic))}); resp.StatusCode != 416 {
		t.Fatalf("unsatisfiable range: %d", resp.StatusCode)
	}
	if resp, _ := n.raw("GET", p+"/assets/"+id, map[string]string{"If-None-Match": etag}); resp.StatusCode != 304 {
		t.Fatalf("If-None-Match: %d", resp.StatusCode)
	}
	if resp, _ := n.raw("GET", p+"/assets/"+id+"?download", nil); !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %v", resp.Header)
	}
	// A page of this origin cannot be uploaded and served as one.
	_, r = n.upload("POST", p+"/files", file("x.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)))
	svg := r.get("data.id").(string)
	if resp, _ := n.raw("GET", p+"/assets/"+svg, nil); r.get("data.type") != "image/svg+xml" ||
		!strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") || resp.Header.Get("Content-Security-Policy") != "sandbox" {
		t.Fatalf("svg: %s %v", r, resp.Header)
	}

	// What the server sets, a client cannot.
	if st, r := n.upload("POST", p+"/files", field("filesize", "1"), file("c.txt", []byte("c"))); st != 400 || r.get("errors.0.extensions.field") != "filesize" {
		t.Fatalf("a server field in the form: %d %s", st, r)
	}
	if st, r := n.call("PATCH", p+"/files/"+id, map[string]any{"width": 1}, nil); st != 400 {
		t.Fatalf("a server field in a patch: %d %s", st, r)
	}
	if st, r := n.call("PATCH", p+"/files/"+id, map[string]any{"title": "Crimson", "description": "a red square"}, nil); st != 200 ||
		r.get("data.title") != "Crimson" || r.get("data.modified_on") == nil || r.get("data.width") != 40.0 {
		t.Fatalf("edit metadata: %d %s", st, r)
	}

	// Limits: types, size, quota; nothing is left stored when one refuses.
	before := storedObjects(t, n, acme)
	n.mustCall(200, "PATCH", p+"/settings", map[string]any{"files_allowed_types": []string{"image/*"}})
	if st, r := n.upload("POST", p+"/files", file("note.txt", []byte("plain text"))); st != 415 || r.get("errors.0.extensions.code") != "UNSUPPORTED_MEDIA_TYPE" {
		t.Fatalf("a refused type: %d %s", st, r)
	}
	// The type is read from the bytes: a name cannot smuggle text in as an image.
	if st, _ := n.upload("POST", p+"/files", file("fake.png", []byte("plain text, not a picture"))); st != 415 {
		t.Fatalf("a renamed text file: %d", st)
	}
	n.mustCall(200, "PATCH", p+"/settings", map[string]any{"files_allowed_types": []string{}, "files_max_upload": 100})
	if st, r := n.upload("POST", p+"/files", file("big.bin", bytes.Repeat([]byte{7}, 500))); st != 413 || r.get("errors.0.extensions.code") != "CONTENT_TOO_LARGE" {
		t.Fatalf("too large: %d %s", st, r)
	}
	n.mustCall(200, "PATCH", p+"/settings", map[string]any{"files_max_upload": 0, "files_quota": len(pic) + 200})
	if st, r := n.upload("POST", p+"/files", file("big.bin", bytes.Repeat([]byte{7}, 300))); st != 507 || r.get("errors.0.extensions.code") != "QUOTA_EXCEEDED" {
		t.Fatalf("over quota: %d %s", st, r)
	}
	n.mustCall(200, "PATCH", p+"/settings", map[string]any{"files_quota": 0})
	if after := storedObjects(t, n, acme); len(after) != len(before) {
		t.Fatalf("refused uploads left objects: %v, before %v", after, before)
	}

	// Transformations: made once, cached in the file's location, then served from there.
	for i := 0; i < 2; i++ {
		resp, body := n.raw("GET", p+"/assets/"+id+"?width=20&height=20&format=webp", nil)
		img, err := webp.Decode(bytes.NewReader(body))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/webp" || err != nil || img.Bounds().Dx() != 20 || img.Bounds().Dy() != 20 ||
			resp.Header.Get("ETag") == etag {
			t.Fatalf("transform %d: %d %v %v", i, resp.StatusCode, resp.Header, err)
		}
		if cached := cachedTransforms(t, n, acme); len(cached) != 1 {
			t.Fatalf("cached transformations after request %d: %v", i, cached)
		}
	}
	if resp, body := n.raw("GET", p+"/assets/"+id+"?width=10&fit=inside", nil); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("transform keeping the format: %d %v", resp.StatusCode, resp.Header)
	} else if img, err := png.Decode(bytes.NewReader(body)); err != nil || img.Bounds().Dx() != 10 || img.Bounds().Dy() != 8 {
		t.Fatalf("width 10 of 40×30: %v %v", err, img)
	}
	for _, q := range []string{"width=0", "width=99999", "fit=stretch", "format=bmp", "quality=101", "transforms=[]"} {
		if st, r := n.call("GET", p+"/assets/"+id+"?"+q, nil, nil); st != 400 || r.get("errors.0.extensions.code") != "INVALID_QUERY" {
			t.Fatalf("bad transformation %s: %d %s", q, st, r)
		}
	}
	// Presets, and the project's choice of what may be transformed.
	n.mustCall(200, "PATCH", p+"/settings", map[string]any{"storage_asset_presets": []any{map[string]any{"key": "thumb", "width": 8, "height": 8, "format": "jpg"}}})
	if resp, body := n.raw("GET", p+"/assets/"+id+"?key=thumb", nil); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("preset: %d %v", resp.StatusCode, resp.Header)
	} else if img, _, err := image.Decode(bytes.NewReader(body)); err != nil || img.Bounds().Dx() != 8 {
		t.Fatalf("preset size: %v", err)
	}
	n.mustCall(200, "PATCH", p+"/settings", map[string]any{"storage_asset_transform": "presets"})
	for q, want := range map[string]int{"key=thumb": 200, "width=8": 400, "key=thumb&width=8": 400, "key=nope": 400} {
		if st, _ := n.call("GET", p+"/assets/"+id+"?"+q, nil, nil); st != want {
			t.Fatalf("presets only, %s: %d, want %d", q, st, want)
		}
	}
	n.mustCall(200, "PATCH", p+"/settings", map[string]any{"storage_asset_transform": "none"})
	if st, _ := n.call("GET", p+"/assets/"+id+"?key=thumb", nil, nil); st != 400 {
		t.Fatalf("transformations off: %d", st)
	}
	n.mustCall(200, "PATCH", p+"/settings", map[string]any{"storage_asset_transform": "all"})
	// Not an image: the transformation is ignored, the file served as it is.
	if resp, body := n.raw("GET", p+"/assets/"+text+"?width=10", nil); resp.StatusCode != 200 || string(body) != "alpha" {
		t.Fatalf("transforming a text file: %d %q", resp.StatusCode, body)
	}
	// A decompression bomb: a few KB declaring 36 megapixels is stored and served, but
	// not decoded.
	var bomb bytes.Buffer
	_ = png.Encode(&bomb, image.NewGray(image.Rect(0, 0, 6000, 6000)))
	_, r = n.upload("POST", p+"/files", file("bomb.png", bomb.Bytes()))
	bombID := r.get("data.id").(string)
	if st, r := n.call("GET", p+"/assets/"+bombID+"?width=10", nil, nil); st != 422 || r.get("errors.0.extensions.code") != "UNPROCESSABLE_CONTENT" {
		t.Fatalf("a bomb transformed: %d %s", st, r)
	}
	if resp, _ := n.raw("GET", p+"/assets/"+bombID, nil); resp.StatusCode != 200 {
		t.Fatalf("a bomb's original: %d", resp.StatusCode)
	}
	n.mustCall(204, "DELETE", p+"/files/"+bombID, nil)

	// Replacing the bytes: the row moves to the new ones, the old ones go.
	bigger := pngImage(t, 64, 48)
	if st, r := n.upload("PATCH", p+"/files/"+id, file("bigger.png", bigger)); st != 200 || r.get("data.width") != 64.0 ||
		r.get("data.filesize") != float64(len(bigger)) || r.get("data.title") != "Crimson" {
		t.Fatalf("replace: %d %s", st, r)
	}
	if resp, body := n.raw("GET", p+"/assets/"+id, nil); !bytes.Equal(body, bigger) || resp.Header.Get("ETag") == etag {
		t.Fatalf("replaced asset: %d, same etag %v", resp.StatusCode, resp.Header.Get("ETag") == etag)
	}
	// The old bytes go once other nodes' caches (STRATA_CACHE_TTL) have let go of them.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		objs, cached := storedObjects(t, n, acme), cachedTransforms(t, n, acme)
		if len(objs) == len(before) && len(cached) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replaced bytes were kept: %v, transformations %v", objs, cached)
		}
	}

	// Folders: a tree of rows, files filed in them.
	folder := n.mustCall(200, "POST", p+"/folders", map[string]any{"name": "Pictures"}).get("data.id").(string)
	n.mustCall(200, "POST", p+"/folders", map[string]any{"name": "Red ones", "parent": folder})
	n.mustCall(200, "PATCH", p+"/files", map[string]any{"keys": []string{id, svg}, "data": map[string]any{"folder": folder}})
	if r := n.mustCall(200, "GET", p+`/files?filter={"folder":{"_eq":"`+folder+`"}}&fields=id`, nil); len(r.get("data").([]any)) != 2 {
		t.Fatalf("files in the folder: %s", r)
	}
	if r := n.mustCall(200, "GET", p+`/folders?filter={"parent":{"_null":true}}`, nil); len(r.get("data").([]any)) != 1 {
		t.Fatalf("top folders: %s", r)
	}

	// Nothing crosses a tenant: the other tenant has no such file.
	if st, _ := n.call("GET", "/api/t/other/assets/"+id, nil, nil); st != 404 {
		t.Fatalf("another tenant's asset by id: %d", st)
	}
	if st, _ := n.call("GET", "/api/t/other/files/"+id, nil, nil); st != 404 {
		t.Fatalf("another tenant's file by id: %d", st)
	}
	if st, _ := n.call("DELETE", "/api/t/other/files/"+id, nil, nil); st != 404 {
		t.Fatalf("deleting another tenant's file by id: %d", st)
	}

	// Deleting: the row and its bytes.
	n.mustCall(204, "DELETE", p+"/files/"+id, nil)
	if st, _ := n.call("GET", p+"/assets/"+id, nil, nil); st != 404 {
		t.Fatalf("a deleted file's asset: %d", st)
	}
	if objs := storedObjects(t, n, acme); len(objs) != len(before)-1 {
		t.Fatalf("deleted file's bytes kept: %v", objs)
	}
}

// TestFilesPermissions: the rules of strata_files govern files as rows: the read rule
// decides /files and /assets, create decides uploads, and a public file is one the
// public role may read.
func TestFilesPermissions(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			admin := startNode(t, b.newControlURL(t), nil)
			admin.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			admin.mustCall(200, "PATCH", p+"/settings", map[string]any{"allow_signup": true})
			_, r := admin.upload("POST", p+"/files", file("admin.txt", []byte("the admin's")))
			adminFile := r.get("data.id").(string)
			user := tenantUser(t, admin, "acme", "u@example.com")
			anon := &node{t: t, base: admin.base}

			// No rule: no files.
			if st, _ := user.call("GET", p+"/files", nil, nil); st != 403 {
				t.Fatalf("list without a rule: %d", st)
			}
			if st, _ := user.upload("POST", p+"/files", file("mine.txt", []byte("mine"))); st != 403 {
				t.Fatalf("upload without a rule: %d", st)
			}
			if st, _ := user.call("GET", p+"/assets/"+adminFile, nil, nil); st != 403 {
				t.Fatalf("asset without a rule: %d", st)
			}
			if st, _ := anon.call("GET", p+"/assets/"+adminFile, nil, nil); st != 403 { // as item reads answer, and Directus
				t.Fatalf("anonymous asset without a rule: %d", st)
			}

			// Their own files: create, and read what they uploaded.
			authd := roleID(t, admin, "acme", "authenticated")
			own := map[string]any{"uploaded_by": map[string]any{"_eq": "$CURRENT_USER"}}
			admin.mustCall(200, "POST", p+"/permissions", map[string]any{"role": authd, "collection": "strata_files", "action": "create", "fields": []string{"title"}})
			admin.mustCall(200, "POST", p+"/permissions", map[string]any{"role": authd, "collection": "strata_files", "action": "read", "permissions": own})
			st, r := user.upload("POST", p+"/files", field("title", "Mine"), file("mine.txt", []byte("mine")))
			if st != 200 || r.get("data.title") != "Mine" {
				t.Fatalf("upload with a rule: %d %s", st, r)
			}
			mine := r.get("data.id").(string)
			if st, _ := user.upload("POST", p+"/files", field("description", "not allowed"), file("x.txt", []byte("x"))); st != 403 {
				t.Fatalf("a field outside the create rule: %d", st)
			}
			if resp, body := user.raw("GET", p+"/assets/"+mine, nil); resp.StatusCode != 200 || string(body) != "mine" {
				t.Fatalf("own asset: %d %q", resp.StatusCode, body)
			}
			if st, _ := user.call("GET", p+"/assets/"+adminFile, nil, nil); st != 404 {
				t.Fatalf("someone else's asset outside the rule: %d", st)
			}
			if r := user.mustCall(200, "GET", p+"/files?fields=id", nil); len(r.get("data").([]any)) != 1 {
				t.Fatalf("list within the rule: %s", r)
			}
			// No update or delete rule: no edits, no deletions, no replaced bytes.
			if st, _ := user.call("PATCH", p+"/files/"+mine, map[string]any{"title": "x"}, nil); st != 403 {
				t.Fatalf("edit without a rule: %d", st)
			}
			if st, _ := user.upload("PATCH", p+"/files/"+mine, file("new.txt", []byte("new"))); st != 403 {
				t.Fatalf("replace without a rule: %d", st)
			}
			if st, _ := user.call("DELETE", p+"/files/"+mine, nil, nil); st != 403 {
				t.Fatalf("delete without a rule: %d", st)
			}

			// A public file: one the public role may read.
			public := roleID(t, admin, "acme", "public")
			admin.mustCall(200, "POST", p+"/permissions", map[string]any{"role": public, "collection": "strata_files", "action": "read",
				"permissions": map[string]any{"id": map[string]any{"_eq": adminFile}}})
			if resp, body := anon.raw("GET", p+"/assets/"+adminFile, nil); resp.StatusCode != 200 || string(body) != "the admin's" ||
				!strings.HasPrefix(resp.Header.Get("Cache-Control"), "public") {
				t.Fatalf("public asset: %d %q %v", resp.StatusCode, body, resp.Header)
			}
			if st, _ := anon.call("GET", p+"/assets/"+mine, nil, nil); st != 404 {
				t.Fatalf("a file outside the public rule: %d", st)
			}
		})
	}
}

// TestFilesRealtime: subscribers to strata_files hear of uploads, edits and deletions,
// within their read rule.
func TestFilesRealtime(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+filepath.Join(t.TempDir(), "c.db"), nil)
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	p := "/api/t/acme"
	ws := n.dial("acme", n.token)
	ws.send(map[string]any{"type": "subscribe", "collection": "strata_files", "uid": "f", "query": map[string]any{"fields": []string{"title", "type"}}})
	ws.expect("subscription", "f", "init")
	_, r := n.upload("POST", p+"/files", field("title", "Hello"), file("hello.txt", []byte("hi")))
	id := r.get("data.id").(string)
	if r := ws.expect("subscription", "f", "create"); r.get("data.0.title") != "Hello" || r.get("data.0.type") != "text/plain" {
		t.Fatalf("create: %s", r)
	}
	n.mustCall(200, "PATCH", p+"/files/"+id, map[string]any{"title": "Bye"})
	if r := ws.expect("subscription", "f", "update"); r.get("data.0.title") != "Bye" {
		t.Fatalf("update: %s", r)
	}
	n.mustCall(204, "DELETE", p+"/files/"+id, nil)
	if r := ws.expect("subscription", "f", "delete"); r.get("data.0") != id {
		t.Fatalf("delete: %s", r)
	}
	// Identities stay out of reach.
	ws.send(map[string]any{"type": "subscribe", "collection": "strata_users", "uid": "u"})
	if r := ws.expect("subscribe", "u", ""); r.get("status") != "error" || r.get("error.code") != "FORBIDDEN" {
		t.Fatalf("users: %s", r)
	}
}

// TestBodyLimitWithStreamedBodies: the server streams bodies larger than the limit (for
// uploads); every other route still refuses them with 413, with a length or chunked.
func TestBodyLimitWithStreamedBodies(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+filepath.Join(t.TempDir(), "c.db"), map[string]string{"STRATA_BODY_LIMIT": "1000"})
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	big := `{"name":"` + strings.Repeat("x", 5000) + `"}`
	if st, r := n.call("POST", "/api/t/acme/folders", big, nil); st != 413 || r.get("errors.0.extensions.code") != "CONTENT_TOO_LARGE" {
		t.Fatalf("a long body: %d %s", st, r)
	}
	// Chunked: no length to refuse up front.
	req, _ := http.NewRequest("POST", n.base+"/api/t/acme/folders", io.MultiReader(strings.NewReader(big)))
	req.Header.Set("Authorization", "Bearer "+n.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Fatalf("a chunked body: %d", resp.StatusCode)
	}
	// Small bodies, chunked or not, still arrive whole.
	req, _ = http.NewRequest("POST", n.base+"/api/t/acme/folders", io.MultiReader(strings.NewReader(`{"name":"ok"}`)))
	req.Header.Set("Authorization", "Bearer "+n.token)
	req.Header.Set("Content-Type", "application/json")
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("a small chunked body: %v %v", resp, err)
	}
	resp.Body.Close()
	// An upload is not held to the body limit.
	if st, r := n.upload("POST", "/api/t/acme/files", file("big.bin", bytes.Repeat([]byte{1}, 5000))); st != 200 || r.get("data.filesize") != 5000.0 {
		t.Fatalf("an upload over the body limit: %d %s", st, r)
	}
}

// TestFileFields: a file column is a many-to-one to strata_files and a files column a
// many-to-many to it; both read and filter through to the files, in REST and GraphQL,
// within the caller's read rule on strata_files.
func TestFileFields(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			n := startNode(t, b.newControlURL(t), nil)
			n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
			p := "/api/t/acme"
			n.mustCall(200, "POST", p+"/tables", map[string]any{"name": "posts", "columns": []any{
				map[string]any{"name": "title", "type": "string"}, map[string]any{"name": "cover", "type": "file"}}})
			r := n.mustCall(200, "POST", p+"/tables/posts/columns", map[string]any{"name": "gallery", "type": "files"})
			if r.get("data.migration.type") != "add_relation" {
				t.Fatalf("a files column is recorded as the relation it is: %s", r)
			}
			_, r = n.upload("POST", p+"/files", file("red.png", pngImage(t, 4, 3)))
			pic := r.get("data.id").(string)
			_, r = n.upload("POST", p+"/files", file("notes.txt", []byte("notes")))
			txt := r.get("data.id").(string)
			n.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "with a picture", "cover": pic, "gallery": []string{pic, txt}})
			n.mustCall(200, "POST", p+"/items/posts", map[string]any{"title": "with notes", "cover": txt})

			r = n.mustCall(200, "GET", p+`/items/posts?fields=title,cover.type,cover.width,gallery.filename_download&sort=title`, nil)
			if r.get("data.0.cover.type") != "image/png" || r.get("data.0.cover.width") != 4.0 || len(r.get("data.0.gallery").([]any)) != 2 {
				t.Fatalf("deep fields: %s", r)
			}
			r = n.mustCall(200, "GET", p+`/items/posts?fields=title&filter={"cover":{"type":{"_starts_with":"image/"}}}`, nil)
			if rows := r.get("data").([]any); len(rows) != 1 || r.get("data.0.title") != "with a picture" {
				t.Fatalf("filter through the file: %s", r)
			}
			g := n.mustGQL("acme", `{ posts(sort: ["title"]) { title cover { type } gallery { id } } }`, nil)
			if g.get("data.posts.0.cover.type") != "image/png" || len(g.get("data.posts.0.gallery").([]any)) != 2 {
				t.Fatalf("GraphQL: %s", g)
			}
			if st, r := n.call("POST", p+"/items/posts", map[string]any{"title": "dangling", "cover": "01a24963-6342-77ae-a930-cd6060291589"}, nil); st != 400 {
				t.Fatalf("a cover that is no file: %d %s", st, r)
			}
			// Deleting a file leaves the posts, without it.
			n.mustCall(204, "DELETE", p+"/files/"+txt, nil)
			r = n.mustCall(200, "GET", p+`/items/posts?fields=title,cover,gallery&sort=title`, nil)
			if r.get("data.1.cover") != nil || len(r.get("data.0.gallery").([]any)) != 1 {
				t.Fatalf("after deleting a file: %s", r)
			}
			// The files' read rule applies through the relation.
			n.mustCall(200, "PATCH", p+"/settings", map[string]any{"allow_signup": true})
			user := tenantUser(t, n, "acme", "reader@example.com")
			authd := roleID(t, n, "acme", "authenticated")
			n.mustCall(200, "POST", p+"/permissions", map[string]any{"role": authd, "collection": "posts", "action": "read"})
			if st, _ := user.call("GET", p+"/items/posts?fields=title,cover", nil, nil); st != 200 {
				t.Fatalf("the key itself: %d", st)
			}
			if st, _ := user.call("GET", p+"/items/posts?fields=title,cover.type", nil, nil); st != 403 {
				t.Fatalf("into files without a rule on them: %d", st)
			}
		})
	}
}

// TestFilesImport: POST /files/import fetches only from the tenant's allowed hosts, never
// from inside the platform's network unless the node allows it, and follows redirects
// only to allowed hosts.
func TestFilesImport(t *testing.T) {
	t.Parallel()
	pic := pngImage(t, 6, 4)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pic.png":
			_, _ = w.Write(pic)
		case "/away":
			http.Redirect(w, r, "http://localhost:1/elsewhere.png", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer origin.Close()
	host := strings.TrimPrefix(origin.URL, "http://")
	hostname := strings.Split(host, ":")[0]
	for _, private := range []bool{false, true} {
		env := map[string]string{"STRATA_FILES_IMPORT_PRIVATE": fmt.Sprint(private)}
		n := startNode(t, "sqlite://"+filepath.Join(t.TempDir(), "c.db"), env)
		n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
		p := "/api/t/acme"
		body := map[string]any{"url": origin.URL + "/pic.png", "data": map[string]any{"title": "Imported"}}
		if st, r := n.call("POST", p+"/files/import", body, nil); st != 403 {
			t.Fatalf("no allowed hosts: %d %s", st, r)
		}
		n.mustCall(200, "PATCH", p+"/settings", map[string]any{"files_import_hosts": []string{hostname}})
		st, r := n.call("POST", p+"/files/import", body, nil)
		if !private {
			// The host is allowed, but it is this machine: refused when connecting.
			if st != 502 || !strings.Contains(r.String(), "inside this network") {
				t.Fatalf("an allowed host on a private address: %d %s", st, r)
			}
			continue
		}
		if st != 200 || r.get("data.title") != "Imported" || r.get("data.type") != "image/png" || r.get("data.width") != 6.0 ||
			r.get("data.filename_download") != "pic.png" {
			t.Fatalf("import: %d %s", st, r)
		}
		if resp, got := n.raw("GET", p+"/assets/"+r.get("data.id").(string), nil); resp.StatusCode != 200 || !bytes.Equal(got, pic) {
			t.Fatalf("imported bytes: %d", resp.StatusCode)
		}
		if st, r := n.call("POST", p+"/files/import", map[string]any{"url": origin.URL + "/away"}, nil); st != 502 || !strings.Contains(r.String(), "not an allowed host") {
			t.Fatalf("a redirect to another host: %d %s", st, r)
		}
		for _, bad := range []string{"file:///etc/passwd", "http://user:pw@" + host + "/pic.png", "gopher://" + host} {
			if st, _ := n.call("POST", p+"/files/import", map[string]any{"url": bad}, nil); st != 400 {
				t.Fatalf("%s: %d", bad, st)
			}
		}
	}
}

// tusCall sends one tus request.
func (n *node) tusCall(method, url string, headers map[string]string, body []byte) *http.Response {
	n.t.Helper()
	resp, _ := n.sendRaw(method, url, headers, body)
	return resp
}

// TestFilesTus walks a resumable upload over the tus protocol on every backend and
// location: created with its metadata, sent in chunks, a chunk cut off midway and sent
// again from where the server says, completed into a file, and out of other callers'
// reach.
func TestFilesTus(t *testing.T) {
	t.Parallel()
	requireBackends(t)
	for _, b := range backends(t) {
		for where, env := range locations(t) {
			t.Run(b.name+"/"+where, func(t *testing.T) {
				t.Parallel()
				n := startNode(t, b.newControlURL(t), env)
				n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
				n.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"allow_signup": true})
				base := n.base + "/api/t/acme/files/tus"
				tus := map[string]string{"Tus-Resumable": "1.0.0"}
				with := func(kv ...string) map[string]string {
					h := map[string]string{"Tus-Resumable": "1.0.0"}
					for i := 0; i < len(kv); i += 2 {
						h[kv[i]] = kv[i+1]
					}
					return h
				}
				if resp := n.tusCall("OPTIONS", base, nil, nil); resp.StatusCode != 204 || resp.Header.Get("Tus-Version") != "1.0.0" ||
					!strings.Contains(resp.Header.Get("Tus-Extension"), "creation") {
					t.Fatalf("OPTIONS: %d %v", resp.StatusCode, resp.Header)
				}
				if resp := n.tusCall("POST", base, map[string]string{"Upload-Length": "10"}, nil); resp.StatusCode != 412 {
					t.Fatalf("no Tus-Resumable: %d", resp.StatusCode)
				}
				data := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320,000 bytes
				meta := "filename " + base64.StdEncoding.EncodeToString([]byte("long.txt")) + ",title " + base64.StdEncoding.EncodeToString([]byte("Long read"))
				resp := n.tusCall("POST", base, with("Upload-Length", fmt.Sprint(len(data)), "Upload-Metadata", meta), nil)
				upload := resp.Header.Get("Location")
				if resp.StatusCode != 201 || !strings.HasPrefix(upload, base+"/") {
					t.Fatalf("create: %d %v", resp.StatusCode, resp.Header)
				}
				chunk := func(offset int, part []byte) *http.Response {
					return n.tusCall("PATCH", upload, with("Upload-Offset", fmt.Sprint(offset), "Content-Type", "application/offset+octet-stream"), part)
				}
				if resp := chunk(0, data[:100000]); resp.StatusCode != 204 || resp.Header.Get("Upload-Offset") != "100000" {
					t.Fatalf("first chunk: %d %v", resp.StatusCode, resp.Header)
				}
				if resp := chunk(5, data[5:10]); resp.StatusCode != 409 || resp.Header.Get("Upload-Offset") != "100000" {
					t.Fatalf("a chunk at the wrong offset: %d %v", resp.StatusCode, resp.Header)
				}
				// A chunk cut off midway: the connection closes with half of it sent.
				conn, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(conn, "PATCH %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 100000\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 100000\r\n\r\n",
					strings.TrimPrefix(upload, n.base), n.token)
				_, _ = conn.Write(data[100000:150000])
				conn.Close()
				// The server keeps what arrived of it (or, had the store refused a short
				// part, nothing of it); the client goes on from where HEAD says.
				var offset string
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					if offset = n.tusCall("HEAD", upload, tus, nil).Header.Get("Upload-Offset"); offset == "150000" {
						break
					}
				}
				if offset != "150000" && offset != "100000" {
					t.Fatalf("after a cut-off chunk the upload is at %s", offset)
				}
				at, _ := strconv.Atoi(offset)
				// Someone else cannot see or continue it.
				other := tenantUser(t, n, "acme", "other@example.com")
				if resp := other.tusCall("HEAD", upload, tus, nil); resp.StatusCode != 404 {
					t.Fatalf("another caller's HEAD: %d", resp.StatusCode)
				}
				if resp := chunk(at, data[at:]); resp.StatusCode != 204 || resp.Header.Get("Upload-Offset") != fmt.Sprint(len(data)) || resp.Header.Get("Strata-File-Id") == "" {
					t.Fatalf("last chunk: %d %v", resp.StatusCode, resp.Header)
				}
				fileID := n.tusCall("HEAD", upload, tus, nil).Header.Get("Strata-File-Id")
				r := n.mustCall(200, "GET", "/api/t/acme/files/"+fileID, nil)
				if r.get("data.title") != "Long read" || r.get("data.filename_download") != "long.txt" || r.get("data.filesize") != float64(len(data)) {
					t.Fatalf("the file: %s", r)
				}
				if resp, got := n.raw("GET", "/api/t/acme/assets/"+fileID, nil); resp.StatusCode != 200 || !bytes.Equal(got, data) {
					t.Fatalf("the file's bytes: %d, %d bytes", resp.StatusCode, len(got))
				}
				if resp := chunk(len(data), []byte("more")); resp.StatusCode != 409 {
					t.Fatalf("a chunk after the end: %d", resp.StatusCode)
				}
				// Limits are checked when the upload is made; an abandoned one is removed.
				n.mustCall(200, "PATCH", "/api/t/acme/settings", map[string]any{"files_max_upload": 1000})
				if resp := n.tusCall("POST", base, with("Upload-Length", "5000"), nil); resp.StatusCode != 413 {
					t.Fatalf("an upload over the limit: %d", resp.StatusCode)
				}
				resp = n.tusCall("POST", base, with("Upload-Length", "500"), nil)
				abandoned := resp.Header.Get("Location")
				if resp := n.tusCall("DELETE", abandoned, tus, nil); resp.StatusCode != 204 {
					t.Fatalf("terminate: %d", resp.StatusCode)
				}
				if resp := n.tusCall("HEAD", abandoned, tus, nil); resp.StatusCode != 404 {
					t.Fatalf("a terminated upload: %d", resp.StatusCode)
				}
				// An upload left unfinished for a day is gone once the next one starts.
				left := n.tusCall("POST", base, with("Upload-Length", "500"), nil).Header.Get("Location")
				chunk = func(offset int, part []byte) *http.Response {
					return n.tusCall("PATCH", left, with("Upload-Offset", fmt.Sprint(offset), "Content-Type", "application/offset+octet-stream"), part)
				}
				chunk(0, data[:100])
				n.app.Files.Now = func() time.Time { return time.Now().Add(files.UploadLifetime + time.Hour) }
				n.tusCall("POST", base, with("Upload-Length", "500"), nil)
				if resp := n.tusCall("HEAD", left, tus, nil); resp.StatusCode != 404 {
					t.Fatalf("an upload left for a day: %d", resp.StatusCode)
				}
			})
		}
	}
}

// TestDeletedTenantsFilesGo: deleting a tenant deletes its objects in every location,
// and a purge a node left unfinished is resumed by the next pass.
func TestDeletedTenantsFilesGo(t *testing.T) {
	t.Parallel()
	for where, env := range locations(t) {
		t.Run(where, func(t *testing.T) {
			n := startNode(t, "sqlite://"+filepath.Join(t.TempDir(), "c.db"), env)
			gone := n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "gone"}).get("data.id").(string)
			kept := n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "kept"}).get("data.id").(string)
			for _, slug := range []string{"gone", "kept"} {
				_, r := n.upload("POST", "/api/t/"+slug+"/files", file("a.png", pngImage(t, 8, 8)))
				n.mustCall(200, "GET", "/api/t/"+slug+"/assets/"+r.get("data.id").(string)+"?width=4", nil) // a cached transformation too
			}
			_, challenge := n.call("DELETE", "/api/tenants/gone", nil, nil)
			if st, r := n.call("DELETE", "/api/tenants/gone", nil, confirmHeaders(t, challenge)); st != 204 {
				t.Fatalf("delete: %d %s", st, r)
			}
			b, _ := n.app.Files.Locations.Get(n.app.Files.Locations.Default)
			left := func(id string) int {
				objs, err := b.List(context.Background(), id+"/")
				if err != nil {
					t.Fatal(err)
				}
				return len(objs)
			}
			for deadline := time.Now().Add(10 * time.Second); left(gone) > 0; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the deleted tenant still has %d objects", left(gone))
				}
			}
			if left(kept) != 2 {
				t.Fatalf("the other tenant has %d objects, want its file and its transformation", left(kept))
			}
			// A purge recorded but not done (a node stopped midway) is done by the next pass.
			if _, err := b.Put(context.Background(), "leftover/x.bin", strings.NewReader("x")); err != nil {
				t.Fatal(err)
			}
			if err := n.app.purges.Enqueue(context.Background(), "leftover"); err != nil {
				t.Fatal(err)
			}
			n.app.purges.Run(context.Background())
			if left("leftover") != 0 {
				t.Fatal("a recorded purge was not resumed")
			}
		})
	}
}

// TestFolderTree: whichever surface writes, a file's folder and a folder's parent exist,
// no folder is inside itself, and deleting a folder moves what it held to the top.
func TestFolderTree(t *testing.T) {
	t.Parallel()
	n := startNode(t, "sqlite://"+filepath.Join(t.TempDir(), "c.db"), nil)
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	p := "/api/t/acme"
	a := n.mustCall(200, "POST", p+"/folders", map[string]any{"name": "A"}).get("data.id").(string)
	b := n.mustCall(200, "POST", p+"/folders", map[string]any{"name": "B", "parent": a}).get("data.id").(string)
	missing := "01a24963-6342-77ae-a930-cd6060291589"
	for name, body := range map[string]map[string]any{"into its own child": {"parent": b}, "into itself": {"parent": a}} {
		if st, r := n.call("PATCH", p+"/folders/"+a, body, nil); st != 400 || r.get("errors.0.extensions.field") != "parent" {
			t.Fatalf("a folder %s: %d %s", name, st, r)
		}
	}
	if st, _ := n.call("POST", p+"/folders", map[string]any{"name": "C", "parent": missing}, nil); st != 400 {
		t.Fatalf("a parent that does not exist: %d", st)
	}
	_, r := n.upload("POST", p+"/files", field("folder", b), file("x.txt", []byte("x")))
	f := r.get("data.id").(string)
	if r.get("data.folder") != b {
		t.Fatalf("uploaded into a folder: %s", r)
	}
	if st, _ := n.call("PATCH", p+"/files/"+f, map[string]any{"folder": missing}, nil); st != 400 {
		t.Fatalf("a file into a folder that does not exist: %d", st)
	}
	n.mustCall(204, "DELETE", p+"/folders/"+b, nil)
	if r := n.mustCall(200, "GET", p+"/files/"+f, nil); r.get("data.folder") != nil {
		t.Fatalf("a deleted folder's file: %s", r)
	}
	c := n.mustCall(200, "POST", p+"/folders", map[string]any{"name": "C", "parent": a}).get("data.id").(string)
	n.mustCall(204, "DELETE", p+"/folders/"+a, nil)
	if r := n.mustCall(200, "GET", p+"/folders/"+c, nil); r.get("data.parent") != nil {
		t.Fatalf("a deleted folder's folder: %s", r)
	}
}

// slowReader hands out its bytes with a pause before each chunk of them.
type slowReader struct {
	r     io.Reader
	chunk int
	pause time.Duration
	left  int // of the current chunk
}

func (s *slowReader) Read(p []byte) (int, error) {
	if s.left == 0 {
		time.Sleep(s.pause)
		s.left = s.chunk
	}
	n, err := s.r.Read(p[:min(len(p), s.left)])
	s.left -= n
	return n, err
}

// TestSlowTransfersOutlastTheTimeouts: the server's read and write timeouts bound whole
// requests; an upload or a download that keeps moving outlasts them.
func TestSlowTransfersOutlastTheTimeouts(t *testing.T) {
	t.Parallel() // alone on its database; mostly waiting for the trickle
	n := startNode(t, "sqlite://"+filepath.Join(t.TempDir(), "c.db"), map[string]string{"STRATA_READ_TIMEOUT": "1s", "STRATA_WRITE_TIMEOUT": "1s"})
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	// An upload trickling in over about 2.5 s.
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, _ := w.CreateFormFile("file", "slow.bin")
	payload := bytes.Repeat([]byte{1, 2, 3, 4}, 8<<20/4) // 8 MiB
	_, _ = part.Write(payload)
	_ = w.Close()
	req, _ := http.NewRequest("POST", n.base+"/api/t/acme/files", &slowReader{r: &body, chunk: 1 << 20, pause: 250 * time.Millisecond})
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("a slow upload: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var up struct {
		Data struct {
			ID       string
			Filesize float64
		}
	}
	if resp.StatusCode != 200 || json.Unmarshal(raw, &up) != nil || up.Data.Filesize != float64(len(payload)) {
		t.Fatalf("a slow upload: %d %s", resp.StatusCode, raw)
	}
	// A download read slowly, over about 2.5 s.
	req, _ = http.NewRequest("GET", n.base+"/api/t/acme/assets/"+up.Data.ID, nil)
	req.Header.Set("Authorization", "Bearer "+n.token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(&slowReader{r: resp.Body, chunk: 1 << 20, pause: 300 * time.Millisecond})
	resp.Body.Close()
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("a slow download: %d %v, %d of %d bytes, %v: %.300q", resp.StatusCode, resp.Header, len(got), len(payload), err, got)
	}
}

// TestStorageLocations: with several locations, a file goes to the tenant's default
// (storage_default), or to the one its upload names, and is served from there.
func TestStorageLocations(t *testing.T) {
	t.Parallel()
	env := locations(t)["s3"]
	env["STRATA_STORAGE_LOCATIONS"] = "local,s3"
	n := startNode(t, "sqlite://"+filepath.Join(t.TempDir(), "c.db"), env)
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	p := "/api/t/acme"
	check := func(r reply, want string) {
		t.Helper()
		id, _ := r.get("data.id").(string)
		if r.get("data.storage") != want || id == "" {
			t.Fatalf("stored in %v, want %s: %s", r.get("data.storage"), want, r)
		}
		if resp, body := n.raw("GET", p+"/assets/"+id, nil); resp.StatusCode != 200 || string(body) != want {
			t.Fatalf("served from %s: %d %q", want, resp.StatusCode, body)
		}
	}
	_, r := n.upload("POST", p+"/files", file("a.txt", []byte("local")))
	check(r, "local")
	n.mustCall(200, "PATCH", p+"/settings", map[string]any{"storage_default": "s3"})
	_, r = n.upload("POST", p+"/files", file("b.txt", []byte("s3")))
	check(r, "s3")
	_, r = n.upload("POST", p+"/files", field("storage", "local"), file("c.txt", []byte("local")))
	check(r, "local")
	if st, r := n.upload("POST", p+"/files", field("storage", "ftp"), file("d.txt", []byte("x"))); st != 400 || r.get("errors.0.extensions.field") != "storage" {
		t.Fatalf("an unknown location: %d %s", st, r)
	}
	if st, r := n.call("PATCH", p+"/settings", map[string]any{"storage_default": "ftp"}, nil); st != 400 || r.get("errors.0.extensions.field") != "storage_default" {
		t.Fatalf("an unknown default location: %d %s", st, r)
	}
}

// TestUploadLeavesTheConnectionClean: a chunked upload whose last chunk ("0\r\n\r\n")
// arrives after the form's closing boundary, and so after the handler is done, must not
// be read as the start of the next request on the same connection.
func TestUploadLeavesTheConnectionClean(t *testing.T) {
	t.Parallel()
	n := startNode(t, backends(t)[0].newControlURL(t), nil)
	n.mustCall(201, "POST", "/api/tenants", map[string]any{"slug": "acme"})
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, _ := w.CreateFormFile("file", "late.bin")
	_, _ = part.Write(bytes.Repeat([]byte{7}, 64<<10))
	_ = w.Close()
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/t/acme/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n", n.token, w.FormDataContentType(), body.Len())
	_, _ = conn.Write(body.Bytes())
	_, _ = conn.Write([]byte("\r\n"))
	time.Sleep(200 * time.Millisecond) // the server has the whole form by now
	_, _ = conn.Write([]byte("0\r\n\r\n"))
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the upload: %d", resp.StatusCode)
	}
	fmt.Fprintf(conn, "GET /api/t/acme/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", n.token)
	next, err := http.ReadResponse(br, nil)
	if err == nil && next.StatusCode != 200 {
		t.Fatalf("the next request on the connection: %d (the upload's last chunk was read as a request)", next.StatusCode)
	}
	// The server may also close the connection rather than answer on it: that is safe.
}
