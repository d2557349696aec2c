package metadata

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var xsDurationRE = regexp.MustCompile(`^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d+))?S)?)?$`)

// maxCacheDuration bounds cacheDuration values; anything longer is an error.
const maxCacheDuration = 100 * 365 * 24 * time.Hour

// parseXSDuration parses a non-negative xs:duration such as "PT1H" or
// "P7DT12H". Years count as 365 days and months as 30 days, which is what
// cacheDuration needs (an approximate re-fetch interval).
func parseXSDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	m := xsDurationRE.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("%q is not an xs:duration", s)
	}
	units := []time.Duration{365 * 24 * time.Hour, 30 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second}
	var total time.Duration
	for i, unit := range units {
		if m[i+1] == "" {
			continue
		}
		n, err := strconv.ParseInt(m[i+1], 10, 64)
		if err != nil || n > int64(maxCacheDuration/unit) {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		total += time.Duration(n) * unit
		if total > maxCacheDuration {
			return 0, fmt.Errorf("%q is out of range", s)
		}
	}
	if frac := m[7]; frac != "" {
		if len(frac) > 9 {
			frac = frac[:9]
		}
		n, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return 0, errors.New("bad fractional seconds")
		}
		total += time.Duration(n)
	}
	return total, nil
}
