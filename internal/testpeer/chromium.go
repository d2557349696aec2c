package testpeer

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is where Debian's chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// Chromium starts headless Chromium for a browser test and returns a tab
// context bound to ctx; the browser stops when the test ends. Without
// Chromium the test is skipped, or failed under GATEHOUSE_REQUIRE_PEERS
// (see Require). The flags keep Chromium off the network (this machine has
// none beyond loopback) and give it a fresh temporary profile.
func Chromium(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	_, err := os.Stat(ChromiumPath)
	Require(t, "Chromium", err == nil, "apt-get install chromium")
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(ChromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1024, 768),
	)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	return tab
}
