package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// chromium returns the browser to render with: $FLAGSTORM_CHROMIUM, else
// /usr/bin/chromium when it exists, else "".
func chromium() string {
	if p := os.Getenv("FLAGSTORM_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// TestHTMLRendersInChromium renders the golden report in a headless
// Chromium, offline, and checks that the screenshot shows a page rather
// than a blank or an error. Set FLAGSTORM_SCREENSHOT to a path to keep
// the screenshot.
func TestHTMLRendersInChromium(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("no Chromium: set FLAGSTORM_CHROMIUM to its path (or install /usr/bin/chromium)")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	shot := filepath.Join(dir, "shot.png")
	var b bytes.Buffer
	if err := WriteHTML(&b, outageRun(t)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"),
		"--window-size=1280,2000",
		"--screenshot="+shot,
		"file://"+page,
	)
	// Chromium's helpers may hold the output pipes after it exits.
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}

	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v\nchromium said:\n%s", err, out)
	}
	if len(data) < 50_000 {
		t.Errorf("screenshot is %d bytes: too small for a rendered report", len(data))
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode screenshot: %v", err)
	}
	if got := img.Bounds().Size(); got != (image.Point{1280, 2000}) {
		t.Errorf("screenshot is %v, want 1280x2000", got)
	}
	// A blank page or an error page has a handful of colours; the
	// report's text, bands, lines and badges have hundreds.
	if n := distinctColors(img, 2000); n < 200 {
		t.Errorf("screenshot has %d distinct colours: the page did not render", n)
	}
	// Most of the page is the light background, but not all of it.
	if f := dominantShare(img); f > 0.97 {
		t.Errorf("%.1f%% of the screenshot is one colour", f*100)
	}
	if keep := os.Getenv("FLAGSTORM_SCREENSHOT"); keep != "" {
		if err := os.WriteFile(keep, data, 0o644); err != nil {
			t.Error(err)
		}
	}
}

// distinctColors counts the image's colours, stopping at limit.
func distinctColors(img image.Image, limit int) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if len(seen) >= limit {
				return len(seen)
			}
		}
	}
	return len(seen)
}

// dominantShare is the fraction of pixels that have the most common colour.
func dominantShare(img image.Image) float64 {
	count := map[[4]uint32]int{}
	b := img.Bounds()
	best := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			k := [4]uint32{r, g, bl, a}
			count[k]++
			best = max(best, count[k])
		}
	}
	return float64(best) / float64(b.Dx()*b.Dy())
}
