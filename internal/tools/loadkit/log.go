package loadkit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// LogTally counts the gateway's WARN and ERROR records by message and
// reason, and keeps the first lines that are not JSON (panics, Go runtime
// errors).
type LogTally struct {
	Records  map[string]int `json:"records,omitempty"`
	NonJSON  []string       `json:"non_json,omitempty"`
	Requests int            `json:"access_log_lines"`
}

// MaxNonJSON bounds LogTally.NonJSON.
const MaxNonJSON = 10

// TallyLog reads the gateway's JSON-lines log.
func TallyLog(r io.Reader) (LogTally, error) {
	t := LogTally{Records: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var rec struct {
			Level  string `json:"level"`
			Msg    string `json:"msg"`
			Reason string `json:"reason"`
			Status int    `json:"status"`
		}
		if err := json.Unmarshal(line, &rec); err != nil || rec.Level == "" {
			if len(t.NonJSON) < MaxNonJSON {
				t.NonJSON = append(t.NonJSON, truncate(string(line), 300))
			}
			continue
		}
		if rec.Status != 0 {
			t.Requests++
		}
		if rec.Level != "WARN" && rec.Level != "ERROR" {
			continue
		}
		key := rec.Level + " " + rec.Msg
		if rec.Reason != "" {
			key += " reason=" + rec.Reason
		}
		if rec.Status != 0 {
			key += " status=" + strconv.Itoa(rec.Status)
		}
		t.Records[key]++
	}
	if err := sc.Err(); err != nil {
		return t, fmt.Errorf("read gateway log: %w", err)
	}
	return t, nil
}

// Merge returns the tally of t's log followed by o's (several instances'
// logs): records and requests add up, and non-JSON lines stay bounded by
// MaxNonJSON.
func (t LogTally) Merge(o LogTally) LogTally {
	out := LogTally{Records: map[string]int{}, Requests: t.Requests + o.Requests}
	for _, r := range []map[string]int{t.Records, o.Records} {
		for k, n := range r {
			out.Records[k] += n
		}
	}
	out.NonJSON = append(append(out.NonJSON, t.NonJSON...), o.NonJSON...)
	out.NonJSON = out.NonJSON[:min(len(out.NonJSON), MaxNonJSON)]
	return out
}
