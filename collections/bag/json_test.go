package bag

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// The reference: encoding/json into Go values, then a msgpack encoder.
// jsonEncoder turns JSON text into msgpack: integral numbers as compact
// ints, others float64, map keys sorted (so equal objects encode equally).
type jsonEncoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
}

func newJSONEncoder() *jsonEncoder {
	j := &jsonEncoder{}
	j.enc = msgpack.NewEncoder(&j.buf)
	j.enc.SetSortMapKeys(true)
	j.enc.UseCompactInts(true)
	return j
}

func (j *jsonEncoder) transcode(e []byte) ([]byte, error) {
	text, ok := strPayload(e)
	if !ok {
		return nil, fmt.Errorf("the element is %s, not a string", describe(e))
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty line")
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("data after the JSON value at byte %d", dec.InputOffset())
	}
	j.buf.Reset()
	if err := j.enc.Encode(numbers(v)); err != nil {
		return nil, err
	}
	return slices.Clone(j.buf.Bytes()), nil
}

// numbers replaces json.Numbers by int64 or float64.
func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

func TestAppendJSON(t *testing.T) {
	valid := []string{
		`{"b":1,"a":[1,2,{"z":null,"y":true,"x":false}],"c":"s"}`,
		`  {"dup":1,"dup":2, "a":"x"}  `,
		`[]`, `{}`, `[[],[{}]]`, `0`, `-0`, `1`, `-1`, `127`, `128`, `255`, `256`, `65535`, `65536`, `4294967295`, `4294967296`,
		`-32`, `-33`, `-128`, `-129`, `-32768`, `-32769`, `-2147483648`, `-2147483649`,
		`9223372036854775807`, `9223372036854775808`, `-9223372036854775808`, `-9223372036854775809`,
		`1.5`, `-0.0`, `1e3`, `1E-3`, `2.5e+10`, `1e400`, `0.1`,
		`"plain"`, `"esc \" \\ \/ \b \f \n \r \t"`, `"\u00e9\u4e2d"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00x"`, `"\ud83d\u0041"`,
		`"héllo wörld 中文"`, "\"bad \xff utf8\"", `"` + strings.Repeat("x", 40) + `"`, `"` + strings.Repeat("y", 300) + `"`, `"` + strings.Repeat("z", 70000) + `"`,
		`true`, `false`, `null`,
		`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"ka":10,"kb":11,"kc":12,"kd":13,"ke":14,"kf":15,"kg":16}`,
		`[` + strings.Repeat("1,", 20) + `1]`,
		`{"nested":{"deeper":{"deepest":[1,{"b":2,"a":1}]}}}`,
	}
	var shared jsonParser // scratch reused from value to value, as in a task
	for _, v := range valid {
		if got, err := shared.appendJSON(nil, []byte(v)); err != nil {
			t.Fatalf("%.60q with a reused parser: %v", v, err)
		} else if want, _ := appendJSON(nil, []byte(v)); !bytes.Equal(got, want) {
			t.Fatalf("%.60q: a reused parser gives % x, a new one % x", v, got, want)
		}
		want, err := newJSONEncoder().transcode(appendStr(nil, []byte(v)))
		if err != nil {
			t.Fatalf("reference refused %q: %v", v, err)
		}
		got, err := appendJSON(nil, []byte(v))
		if err != nil {
			t.Fatalf("%.60q: %v", v, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%.60q:\n got  % x\n want % x", v, got[:min(len(got), 64)], want[:min(len(want), 64)])
		}
	}
	invalid := []string{
		``, ` `, `{`, `}`, `[1,]`, `[1 2]`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{a:1}`, `01`, `-`, `1.`, `.5`, `1e`, `+1`,
		`"unterminated`, `"bad \x escape"`, `"\u12"`, "\"ctl \x01\"", `tru`, `nul`, `1 2`, `{"a":1}x`, `[1]]`, `NaN`,
	}
	for _, v := range invalid {
		if _, err := newJSONEncoder().transcode(appendStr(nil, []byte(v))); err == nil {
			t.Fatalf("the reference takes %q", v)
		}
		if got, err := appendJSON(nil, []byte(v)); err == nil {
			t.Fatalf("%q accepted: % x", v, got)
		}
	}
}

func BenchmarkJSON(b *testing.B) {
	line := []byte(`{"id":12345,"name":"Hzefelze","city":"Citysinu","score":677.26,"text":"sisi lobri mifelloka kahulnugor pemivura brizetodan sizenubri"}`)
	e := appendStr(nil, line)
	b.Run("appendJSON", func(b *testing.B) {
		var buf []byte
		var p jsonParser
		for b.Loop() {
			buf, _ = p.appendJSON(buf[:0], line)
		}
	})
	b.Run("encoding/json+msgpack", func(b *testing.B) {
		enc := newJSONEncoder()
		for b.Loop() {
			enc.transcode(e)
		}
	})
}
