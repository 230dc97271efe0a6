package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progressBar draws "label [=====>    ] 12/40 item" on one terminal line, redrawn at
// most every 50 ms. Off a terminal it draws nothing: logs and pipes get the summary.
type progressBar struct {
	w      io.Writer
	on     bool
	label  string
	total  int
	n      int
	drawn  time.Time
	paused bool
}

const progressWidth = 30

func (c *cli) progress(label string, total int) *progressBar {
	return &progressBar{w: c.errOut, on: c.tty && total > 1, label: label, total: total}
}

func (b *progressBar) step(item string) {
	b.n++
	if !b.on {
		return
	}
	if b.n < b.total && time.Since(b.drawn) < 50*time.Millisecond {
		return
	}
	b.draw(fmt.Sprintf("%d/%d %s", b.n, b.total, oneLine(item, 40)))
}

// at draws the bar at n of total (a bar only when total is known) with text beside it:
// a transfer's bytes, say.
func (b *progressBar) at(n, total int, text string) {
	b.n, b.total = n, total
	if !b.on || time.Since(b.drawn) < 50*time.Millisecond {
		return
	}
	b.draw(text)
}

func (b *progressBar) draw(text string) {
	b.drawn = time.Now()
	if b.total <= 0 {
		fmt.Fprintf(b.w, "\r\033[K%s %s", b.label, text)
		b.paused = false
		return
	}
	filled := min(progressWidth*b.n/b.total, progressWidth)
	bar := strings.Repeat("=", filled)
	if filled < progressWidth {
		bar += ">" + strings.Repeat(" ", progressWidth-filled-1)
	}
	fmt.Fprintf(b.w, "\r\033[K%s [%s] %s", b.label, bar, text)
	b.paused = false
}

// pause ends the bar's line so a question can be asked below it.
func (b *progressBar) pause() {
	if b.on && !b.drawn.IsZero() && !b.paused {
		fmt.Fprintln(b.w)
		b.paused = true
	}
}

func (b *progressBar) done() {
	b.pause()
	b.on = false
}

// isTerminal reports whether w is a character device (a terminal), not a file or pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
