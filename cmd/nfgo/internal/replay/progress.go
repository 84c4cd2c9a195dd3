package replay

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progressBar draws one line on a terminal, redrawn in place.
type progressBar struct {
	w     io.Writer
	label string
	total int64
	start time.Time
}

func newProgressBar(w io.Writer, label string, total int64) *progressBar {
	return &progressBar{w: w, label: label, total: total, start: time.Now()}
}

// run redraws the bar five times a second from read (bytes done, items
// done) until stop is closed.
func (b *progressBar) run(stop <-chan struct{}, read func() (int64, int)) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			done, n := read()
			b.draw(done, n)
		}
	}
}

func (b *progressBar) draw(done int64, n int) {
	const width = 30
	frac := 0.0
	if b.total > 0 {
		frac = min(float64(done)/float64(b.total), 1)
	}
	fill := int(frac * width)
	rate := float64(n) / max(time.Since(b.start).Seconds(), 1e-3)
	fmt.Fprintf(b.w, "\r%s [%s%s] %3.0f%% %d packets %.0f/s ", b.label,
		strings.Repeat("=", fill), strings.Repeat(" ", width-fill), frac*100, n, rate)
}

// finish draws the bar full and ends its line.
func (b *progressBar) finish(n int) {
	b.draw(b.total, n)
	fmt.Fprintln(b.w)
}
