package audit

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestPlainCopyMatchesRoundTrip: the copy fast path gives exactly what the
// encode/decode round trip gives, so hashes do not depend on which ran.
func TestPlainCopyMatchesRoundTrip(t *testing.T) {
	values := []any{
		map[string]any{"a": json.Number("42"), "b": []any{json.Number("1.5"), "x", true, nil}, "c": map[string]any{"d": json.Number("-0.000001")}},
		[]any{map[string]any{"value": "x", "primary": true}},
		json.Number("12345678901234567890"),
	}
	for _, v := range values {
		fast, ok := plainCopy(v)
		if !ok {
			t.Fatalf("plainCopy refused %#v", v)
		}
		b, _ := json.Marshal(v)
		var slow any
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("plainCopy(%#v) = %#v, round trip gives %#v", v, fast, slow)
		}
	}
	if _, ok := plainCopy(struct{ A int }{1}); ok {
		t.Errorf("plainCopy accepted a struct")
	}
}
