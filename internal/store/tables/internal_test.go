package tables

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/adfscim/adfscim/internal/store"
)

// azureBatchFailure is the shape of a failed entity group transaction as
// Azure documents it: status 202, one changeset holding only the failed
// operation's answer, its index in the message.
const azureBatchFailure = "--batchresponse_e69b1c6c-e0e5-4d5f-a3e2-1f2bbcf4b4ef\r\n" +
	"Content-Type: multipart/mixed; boundary=changesetresponse_f1d7c1bb-b4c5-4b87-a20a-18a3a6f6e5c1\r\n" +
	"\r\n" +
	"--changesetresponse_f1d7c1bb-b4c5-4b87-a20a-18a3a6f6e5c1\r\n" +
	"Content-Type: application/http\r\n" +
	"Content-Transfer-Encoding: binary\r\n" +
	"\r\n" +
	"HTTP/1.1 409 Conflict\r\n" +
	"X-Content-Type-Options: nosniff\r\n" +
	"Cache-Control: no-cache\r\n" +
	"DataServiceVersion: 3.0;\r\n" +
	"Content-Type: application/json;odata=minimalmetadata;streaming=true;charset=utf-8\r\n" +
	"\r\n" +
	`{"odata.error":{"code":"EntityAlreadyExists","message":{"lang":"en-US","value":"17:The specified entity already exists.\nRequestId:5bd4d7f6-0002-0051-5a0c-9d0a3f000000\nTime:2026-11-26T20:00:00.0000000Z"}}}` + "\r\n" +
	"--changesetresponse_f1d7c1bb-b4c5-4b87-a20a-18a3a6f6e5c1--\r\n" +
	"--batchresponse_e69b1c6c-e0e5-4d5f-a3e2-1f2bbcf4b4ef--\r\n"

const azureBatchSuccess = "--batchresponse_1\r\n" +
	"Content-Type: multipart/mixed; boundary=changesetresponse_2\r\n" +
	"\r\n" +
	"--changesetresponse_2\r\n" +
	"Content-Type: application/http\r\n" +
	"Content-Transfer-Encoding: binary\r\n" +
	"\r\n" +
	"HTTP/1.1 204 No Content\r\n" +
	"Preference-Applied: return-no-content\r\n" +
	"ETag: W/\"datetime'2026-11-26T20%3A00%3A00.1Z'\"\r\n" +
	"\r\n" +
	"\r\n" +
	"--changesetresponse_2\r\n" +
	"Content-Type: application/http\r\n" +
	"Content-Transfer-Encoding: binary\r\n" +
	"\r\n" +
	"HTTP/1.1 204 No Content\r\n" +
	"\r\n" +
	"\r\n" +
	"--changesetresponse_2--\r\n" +
	"--batchresponse_1--\r\n"

func TestParseBatchResponse(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		want                    []batchPart
	}{
		{"azure failure, header boundary", "multipart/mixed; boundary=batchresponse_e69b1c6c-e0e5-4d5f-a3e2-1f2bbcf4b4ef", azureBatchFailure,
			[]batchPart{{status: 409, code: "EntityAlreadyExists", index: 17}}},
		{"azure failure, boundary from the body", "", azureBatchFailure,
			[]batchPart{{status: 409, code: "EntityAlreadyExists", index: 17}}},
		{"success with etags", "multipart/mixed; boundary=batchresponse_1", azureBatchSuccess,
			[]batchPart{{status: 204, etag: `W/"datetime'2026-11-26T20%3A00%3A00.1Z'"`, index: -1}, {status: 204, index: -1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseBatchResponse(tc.contentType, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d parts, want %d", len(got), len(tc.want))
			}
			for i := range got {
				got[i].message = ""
				if got[i] != tc.want[i] {
					t.Errorf("part %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestQueryFilter(t *testing.T) {
	tests := []struct {
		q    store.Query
		want string
	}{
		{store.Query{PartitionKey: "p"}, "PartitionKey eq 'p'"},
		{store.Query{PartitionKey: "o'b"}, "PartitionKey eq 'o''b'"},
		{store.Query{PartitionKey: "p", Prefix: "ab"}, "PartitionKey eq 'p' and RowKey ge 'ab' and RowKey lt 'ac'"},
		{store.Query{PartitionKey: "p", Prefix: "x'"}, "PartitionKey eq 'p' and RowKey ge 'x''' and RowKey lt 'x('"},
		{store.Query{PartitionKey: "p", After: "' or 1 eq 1 or ''='"}, "PartitionKey eq 'p' and RowKey gt ''' or 1 eq 1 or ''''='''"},
		{store.Query{PartitionKey: "p", Prefix: "a\U0010FFFF"}, "PartitionKey eq 'p' and RowKey ge 'a\U0010FFFF' and RowKey lt 'b'"},
		{store.Query{PartitionKey: "p", Prefix: "\U0010FFFF"}, "PartitionKey eq 'p' and RowKey ge '\U0010FFFF'"},
	}
	for _, tc := range tests {
		if got := queryFilter(tc.q); got != tc.want {
			t.Errorf("queryFilter(%+v) = %q, want %q", tc.q, got, tc.want)
		}
	}
}

// FuzzPrefixEnd: every string that starts with p sorts before the bound, and
// p itself does.
func FuzzPrefixEnd(f *testing.F) {
	for _, s := range []string{"a", "ab", "x'", "\uD7FF", "\uFFFF", "\U0010FFFF", "a\U0010FFFF"} {
		f.Add(s, "tail")
	}
	f.Fuzz(func(t *testing.T, p, tail string) {
		if p == "" || !utf8.ValidString(p) || !utf8.ValidString(tail) {
			return
		}
		end, ok := prefixEnd(p)
		if !ok {
			if strings.Trim(p, "\U0010FFFF") != "" {
				t.Fatalf("no bound for %q", p)
			}
			return
		}
		if !utf8.ValidString(end) {
			t.Fatalf("bound %q of %q is not UTF-8", end, p)
		}
		if s := p + tail; s >= end || p >= end {
			t.Fatalf("prefix %q: %q is not below bound %q", p, s, end)
		}
		if strings.HasPrefix(end, p) {
			t.Fatalf("bound %q starts with the prefix %q", end, p)
		}
	})
}
