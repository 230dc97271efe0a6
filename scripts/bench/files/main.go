// Command files measures Strata's file serving side by side with its references, in one
// run, the targets interleaved over several rounds:
//
//	go run ./scripts/bench/files                       # 5 rounds of 5s, 32 connections
//	go run ./scripts/bench/files -rounds 1 -duration 2s  # a quick look
//
// (a) a 100 KB original served by Strata's /assets against Go's net/http file server on
// the same bytes (its own process); (b) a cached 200×200 thumbnail of a 1200×800 JPEG,
// Strata's /assets?width=200&height=200 against PocketBase's ?thumb=200x200 (installed
// into -cache as scripts/bench/peers does); (c) the peak resident memory of the Strata
// node while a 1 GiB file is uploaded. Every target serves anonymous callers (public
// read), on 127.0.0.1, on SQLite. Markdown to stdout, progress to stderr.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"strata/scripts/bench/internal/benchkit"
)

func main() {
	rounds := flag.Int("rounds", 5, "rounds; the targets' order rotates every round")
	duration := flag.Duration("duration", 5*time.Second, "load per target per round")
	conns := flag.Int("conns", 32, "concurrent connections")
	home, _ := os.UserHomeDir()
	cache := flag.String("cache", filepath.Join(home, ".cache", "strata-bench"), "where PocketBase is installed")
	serve := flag.String("serve", "", "internal: serve this directory with net/http on -addr")
	addr := flag.String("addr", "", "internal: the address for -serve")
	upload := flag.Int64("upload", 1<<30, "bytes of the large upload (0: skip)")
	profile := flag.String("profile", "", "write a CPU profile of the Strata node during its first /assets round to this file")
	flag.Parse()
	if *serve != "" {
		fmt.Fprintln(os.Stderr, http.ListenAndServe(*addr, http.FileServer(http.Dir(*serve))))
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *rounds, *duration, *conns, *cache, *upload, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "files bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func run(ctx context.Context, rounds int, dur time.Duration, conns int, cache string, upload int64, profile string) error {
	tmp, err := os.MkdirTemp("", "strata-files-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	original := make([]byte, 100<<10)
	_, _ = rand.Read(original)
	photo := photoJPEG(1200, 800)

	logf("starting Strata…")
	env, err := benchkit.Start(ctx, "sqlite", "bench")
	if err != nil {
		return err
	}
	defer env.Close()
	api := env.Base + "/api/t/bench"
	var role struct {
		Data []struct{ ID, Name string } `json:"data"`
	}
	if err := env.Client.Do("GET", api+"/roles", nil, 200, &role); err != nil {
		return err
	}
	for _, r := range role.Data {
		if r.Name == "public" {
			if err := env.Client.Do("POST", api+"/permissions", map[string]any{"role": r.ID, "collection": "strata_files", "action": "read"}, 200, nil); err != nil {
				return err
			}
		}
	}
	origID, err := strataUpload(env.Client, api, "original.bin", original)
	if err != nil {
		return err
	}
	photoID, err := strataUpload(env.Client, api, "photo.jpg", photo)
	if err != nil {
		return err
	}

	logf("starting net/http's file server…")
	dir := filepath.Join(tmp, "static")
	_ = os.MkdirAll(dir, 0o755)
	if err := os.WriteFile(filepath.Join(dir, "original.bin"), original, 0o644); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	fsAddr := benchkit.FreeAddr()
	fsCmd := exec.CommandContext(ctx, self, "-serve", dir, "-addr", fsAddr)
	fsCmd.Stderr = os.Stderr
	if err := fsCmd.Start(); err != nil {
		return err
	}
	defer func() { _ = fsCmd.Process.Kill(); _ = fsCmd.Wait() }()
	if err := benchkit.WaitUp(ctx, "http://"+fsAddr+"/original.bin"); err != nil {
		return err
	}

	logf("starting PocketBase…")
	pbBin, err := benchkit.EnsurePocketBase(ctx, cache, logf)
	if err != nil {
		return err
	}
	pbThumb, stopPB, err := startPocketBase(ctx, pbBin, filepath.Join(tmp, "pb"), photo)
	if stopPB != nil {
		defer stopPB()
	}
	if err != nil {
		return err
	}

	originals := []benchkit.Target{benchkit.Get("Strata /assets", api+"/assets/"+origID), benchkit.Get("net/http FileServer", "http://"+fsAddr+"/original.bin")}
	thumbs := []benchkit.Target{benchkit.Get("Strata /assets?width=200&height=200", api+"/assets/"+photoID+"?width=200&height=200"), benchkit.Get("PocketBase ?thumb=200x200", pbThumb)}
	hc := benchkit.NewClient(conns).HTTP
	for _, set := range [][]benchkit.Target{originals, thumbs} {
		for _, t := range set { // checked, and the thumbnails made and cached
			if err := check(hc, t); err != nil {
				return err
			}
		}
	}
	profiles := 0
	results := benchkit.Interleave(ctx, hc, conns, rounds, dur, [][]benchkit.Target{originals, thumbs}, func(round int, t benchkit.Target) {
		if profile != "" && round == 0 && strings.HasPrefix(t.Name, "Strata") {
			go benchkit.SaveProfile(env.PprofAddr, dur, profile+"."+strconv.Itoa(profiles), logf)
			profiles++
		}
	}, logf)
	fmt.Printf("### Files: %d rounds of %s per target, %d connections, Go load generator, interleaved\n\n", rounds, dur, conns)
	benchkit.Table("100 KB original", originals, results)
	benchkit.Table("Cached 200×200 thumbnail of a 1200×800 JPEG", thumbs, results)

	if upload > 0 {
		logf("uploading %d bytes…", upload)
		pid := env.PIDs[0]
		before := peakRSS(pid)
		start := time.Now()
		if _, err := strataUploadStream(env.Client, api, "large.bin", upload); err != nil {
			return err
		}
		fmt.Printf("Upload of %d MiB: %.1f s, the node's peak resident memory %d MiB before and %d MiB after (VmHWM)\n",
			upload>>20, time.Since(start).Seconds(), before>>10, peakRSS(pid)>>10)
	}
	return nil
}

func check(hc *http.Client, t benchkit.Target) error {
	resp, err := hc.Do(t.NewReq())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || len(b) == 0 {
		return fmt.Errorf("%s: %d, %d bytes", t.Name, resp.StatusCode, len(b))
	}
	if strings.Contains(t.Name, "200") {
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil || img.Bounds().Dx() != 200 || img.Bounds().Dy() != 200 {
			return fmt.Errorf("%s: not a 200×200 image (%v)", t.Name, err)
		}
	}
	return nil
}

// photoJPEG is a photo-like image: gradients and noise, so it compresses as photos do.
func photoJPEG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	noise := make([]byte, w*h)
	_, _ = rand.Read(noise)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := noise[y*w+x] / 8
			img.Set(x, y, color.RGBA{R: uint8(x*255/w) + n, G: uint8(y*255/h) + n, B: uint8((x+y)*255/(w+h)) + n, A: 255})
		}
	}
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	return buf.Bytes()
}

func strataUpload(c *benchkit.Client, api, name string, body []byte) (string, error) {
	return strataUploadFrom(c, api, name, bytes.NewReader(body))
}

// strataUploadStream uploads n generated bytes without holding them.
func strataUploadStream(c *benchkit.Client, api, name string, n int64) (string, error) {
	block := make([]byte, 1<<20)
	_, _ = rand.Read(block)
	pr, pw := io.Pipe()
	go func() {
		var err error
		for left := n; left > 0 && err == nil; left -= int64(len(block)) {
			_, err = pw.Write(block[:min(int64(len(block)), left)])
		}
		pw.CloseWithError(err)
	}()
	return strataUploadFrom(c, api, name, pr)
}

func strataUploadFrom(c *benchkit.Client, api, name string, body io.Reader) (string, error) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("file", name)
		if err == nil {
			_, err = io.Copy(part, body)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequest("POST", api+"/files", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Data struct{ ID string } `json:"data"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil {
		return "", fmt.Errorf("upload %s: %d %s", name, resp.StatusCode, b)
	}
	return out.Data.ID, nil
}

// saveProfile writes a CPU profile of the node taken over most of dur.
// peakRSS is a process's peak resident memory in KiB (Linux).
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return -1
}

// startPocketBase starts PocketBase with a public collection holding the photo, and
// returns the URL of its 200×200 thumbnail.
func startPocketBase(ctx context.Context, bin, dir string, photo []byte) (string, func(), error) {
	pb, err := benchkit.StartPocketBase(ctx, bin, dir, "")
	if err != nil {
		return "", nil, err
	}
	stop, base, c := pb.Stop, pb.Base, pb.Client
	if err := c.Do("POST", base+"/api/collections", map[string]any{"name": "photos", "type": "base", "listRule": "", "viewRule": "",
		"fields": []any{map[string]any{"name": "image", "type": "file", "maxSelect": 1, "maxSize": 10 << 20, "thumbs": []string{"200x200"}}}}, 200, nil); err != nil {
		return "", stop, err
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	part, _ := mw.CreateFormFile("image", "photo.jpg")
	_, _ = part.Write(photo)
	_ = mw.Close()
	req, _ := http.NewRequest("POST", base+"/api/collections/photos/records", &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return "", stop, err
	}
	defer resp.Body.Close()
	var rec struct{ ID, Image string }
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, &rec) != nil || rec.Image == "" {
		return "", stop, errors.New("PocketBase upload: " + resp.Status + " " + string(b))
	}
	return base + "/api/files/photos/" + rec.ID + "/" + rec.Image + "?thumb=200x200", stop, nil
}
