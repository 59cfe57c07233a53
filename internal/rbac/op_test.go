package rbac_test

import (
	"encoding/json"
	"testing"

	. "github.com/adfscim/adfscim/internal/rbac"
)

// TestOpParse: a result read back names create or delete, nothing else.
func TestOpParse(t *testing.T) {
	tests := []struct {
		json    string
		want    Op
		wantErr bool
	}{
		{`{"op":"create"}`, OpCreate, false},
		{`{"op":"delete"}`, OpDelete, false},
		{`{"op":"Delete"}`, "", true},
		{`{"op":"update"}`, "", true},
		{`{"op":""}`, "", true},
	}
	for _, tc := range tests {
		var res Result
		err := json.Unmarshal([]byte(tc.json), &res)
		if (err != nil) != tc.wantErr || res.Op != tc.want {
			t.Errorf("decode %s: op %q, err %v; want %q, error %v", tc.json, res.Op, err, tc.want, tc.wantErr)
		}
	}
	if _, err := ParseOp("remove"); err == nil {
		t.Error("ParseOp(remove): no error")
	}
}
