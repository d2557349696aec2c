package config

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTracingDefaults(t *testing.T) {
	// Left out: tracing off, the default ratio and service name.
	c, err := Parse([]byte(minimalYAML), "", env())
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	assert.Equal(t, TracingConfig{SampleRatio: DefaultTracingSampleRatio, ServiceName: DefaultTracingServiceName}, c.Tracing)

	// Set in the file.
	c, err = Parse([]byte(minimalYAML+"tracing:\n  otlp_endpoint: http://otel-collector:4318\n  sample_ratio: 0.5\n  service_name: gw-eu\n"), "", env())
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	assert.Equal(t, TracingConfig{OTLPEndpoint: "http://otel-collector:4318", SampleRatio: 0.5, ServiceName: "gw-eu"}, c.Tracing)

	// An explicit 0 in a file samples no new trace; it is not the default.
	c, err = Parse([]byte(minimalYAML+"tracing:\n  sample_ratio: 0\n"), "", env())
	require.NoError(t, err)
	require.NoError(t, c.Validate())
	assert.Zero(t, c.Tracing.SampleRatio)

	// In code, zero means the default; ApplyDefaults is idempotent.
	c = &Config{}
	c.ApplyDefaults()
	c.ApplyDefaults()
	assert.Equal(t, DefaultTracingSampleRatio, c.Tracing.SampleRatio)
	assert.Equal(t, DefaultTracingServiceName, c.Tracing.ServiceName)
}

// TestTracingValidate starts from a valid tracing section and changes one
// thing.
func TestTracingValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(tc *TracingConfig)
		path    string // "" means valid
		message string
	}{
		{"valid as is", func(*TracingConfig) {}, "", ""},
		{"off", func(tc *TracingConfig) { tc.OTLPEndpoint = "" }, "", ""},
		{"https", func(tc *TracingConfig) { tc.OTLPEndpoint = "https://otlp.example.com/v1/traces" }, "", ""},
		{"http on a non-loopback host", func(tc *TracingConfig) { tc.OTLPEndpoint = "http://10.0.0.7:4318" }, "", ""},
		{"ratio 0", func(tc *TracingConfig) { tc.SampleRatio = 0 }, "", ""},
		{"ratio 1", func(tc *TracingConfig) { tc.SampleRatio = 1 }, "", ""},
		{"relative endpoint", func(tc *TracingConfig) { tc.OTLPEndpoint = "otel-collector:4318" }, "tracing.otlp_endpoint", ""},
		{"no host", func(tc *TracingConfig) { tc.OTLPEndpoint = "http:///v1/traces" }, "tracing.otlp_endpoint", "not an absolute URL"},
		{"grpc scheme", func(tc *TracingConfig) { tc.OTLPEndpoint = "grpc://otel-collector:4317" }, "tracing.otlp_endpoint", "not http or https"},
		{"user info", func(tc *TracingConfig) { tc.OTLPEndpoint = "https://u:pw@otlp.example.com" }, "tracing.otlp_endpoint", "user information"},
		{"query", func(tc *TracingConfig) { tc.OTLPEndpoint = "https://otlp.example.com/v1/traces?key=x" }, "tracing.otlp_endpoint", "query"},
		{"fragment", func(tc *TracingConfig) { tc.OTLPEndpoint = "https://otlp.example.com/v1/traces#x" }, "tracing.otlp_endpoint", "fragment"},
		{"ratio negative", func(tc *TracingConfig) { tc.SampleRatio = -0.1 }, "tracing.sample_ratio", "from 0 to 1"},
		{"ratio above 1", func(tc *TracingConfig) { tc.SampleRatio = 1.5 }, "tracing.sample_ratio", "from 0 to 1"},
		{"ratio NaN", func(tc *TracingConfig) { tc.SampleRatio = math.NaN() }, "tracing.sample_ratio", "from 0 to 1"},
		{"service name empty", func(tc *TracingConfig) { tc.ServiceName = " " }, "tracing.service_name", "is empty"},
		{"service name control character", func(tc *TracingConfig) { tc.ServiceName = "gw\nx" }, "tracing.service_name", "printable"},
		{"service name too long", func(tc *TracingConfig) { tc.ServiceName = strings.Repeat("g", maxServiceNameLength+1) }, "tracing.service_name", "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(minimalYAML+"tracing:\n  otlp_endpoint: http://otel-collector:4318\n  sample_ratio: 0.25\n"), "", env())
			require.NoError(t, err)
			require.NoError(t, c.Validate(), "the starting point is valid")
			tc.mutate(&c.Tracing)
			err = c.Validate()
			if tc.path == "" {
				require.NoError(t, err)
				return
			}
			ps := problems(t, err)
			require.Len(t, ps, 1, "problems: %v", ps)
			assert.Equal(t, tc.path, ps[0].Path)
			assert.Contains(t, ps[0].Message, tc.message)
		})
	}
}

func TestTracingEndpointCredentialsNotEchoed(t *testing.T) {
	for _, raw := range []string{"https://u:s3cret-pw@otlp.example.com", "h%zz://u:s3cret-pw@otlp.example.com"} {
		c, err := Parse([]byte(minimalYAML), "", env())
		require.NoError(t, err)
		c.Tracing.OTLPEndpoint = raw
		err = c.Validate()
		require.Error(t, err, raw)
		assert.NotContains(t, err.Error(), "s3cret-pw")
	}
}

func TestTracingParseProblems(t *testing.T) {
	tests := []struct{ name, yaml, path, message string }{
		{"unknown key", "tracing:\n  endpoint: http://x:4318\n", "tracing.endpoint", "unknown key"},
		{"ratio not a number", "tracing:\n  sample_ratio: lots\n", "tracing.sample_ratio", ""},
		{"ratio out of range in a file", "tracing:\n  sample_ratio: 2\n", "tracing.sample_ratio", "from 0 to 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The positive control: the same file without the tracing section.
			c, err := Parse([]byte(minimalYAML), "", env())
			require.NoError(t, err)
			require.NoError(t, c.Validate())

			c, err = Parse([]byte(minimalYAML+tc.yaml), "", env())
			if err == nil {
				err = c.Validate()
			}
			ps := problems(t, err)
			require.NotEmpty(t, ps)
			assert.Equal(t, tc.path, ps[0].Path, "%v", ps)
			assert.Contains(t, ps[0].Message, tc.message)
			assert.Equal(t, strings.Count(minimalYAML, "\n")+2, ps[0].Line, "the line of the key")
		})
	}
}
