package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ValidKey reports whether k may be used as a PartitionKey or RowKey: valid
// UTF-8, at most MaxKeyLen bytes, and none of '/', '\\', '#', '?' or a
// control character.
func ValidKey(k string) bool {
	if len(k) > MaxKeyLen || !utf8.ValidString(k) {
		return false
	}
	for _, r := range k {
		if forbiddenKeyRune(r) {
			return false
		}
	}
	return true
}

func forbiddenKeyRune(r rune) bool {
	return r == '/' || r == '\\' || r == '#' || r == '?' || r < 0x20 || (r >= 0x7f && r <= 0x9f)
}

// maxEncodedLen leaves room for a caller's prefix in front of an encoded
// value while staying under MaxKeyLen.
const maxEncodedLen = 512

// EncodeKey turns any string into a value that is safe inside a key: '%',
// every forbidden character and every byte that is not valid UTF-8 are
// percent-encoded byte by byte (as in a URL), so distinct inputs stay distinct
// and the order of plain ASCII values is kept. Inputs whose encoding would be
// longer than 512 bytes are replaced by "%H" and the hex SHA-256 of the input
// (still distinct in practice, deterministic, and never the encoding of a
// short input, since an encoded '%' is always followed by two hex digits).
func EncodeKey(s string) string {
	needs := !utf8.ValidString(s)
	for _, r := range s {
		if needs || r == '%' || forbiddenKeyRune(r) {
			needs = true
			break
		}
	}
	out := s
	if needs {
		var b strings.Builder
		b.Grow(len(s) + 8)
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == '%' || forbiddenKeyRune(r) || (r == utf8.RuneError && size == 1) {
				for _, c := range []byte(s[i : i+size]) {
					fmt.Fprintf(&b, "%%%02X", c)
				}
			} else {
				b.WriteString(s[i : i+size])
			}
			i += size
		}
		out = b.String()
	}
	if len(out) > maxEncodedLen {
		sum := sha256.Sum256([]byte(s))
		return "%H" + hex.EncodeToString(sum[:])
	}
	return out
}

// ValidateBatch checks ops against the contract: 1 to MaxBatchOps operations,
// one partition, each RowKey once, valid keys, known kinds, Data within
// MaxDataSize per op and MaxBatchDataSize in all. Engines call it before
// writing anything.
func ValidateBatch(ops []Op) error {
	if len(ops) == 0 {
		return fmt.Errorf("%w: empty batch", ErrInvalid)
	}
	if len(ops) > MaxBatchOps {
		return fmt.Errorf("%w: %d operations in one batch (max %d)", ErrInvalid, len(ops), MaxBatchOps)
	}
	pk := ops[0].Entity.PartitionKey
	seen := make(map[string]struct{}, len(ops))
	total := 0
	for i, op := range ops {
		e := op.Entity
		if e.PartitionKey != pk {
			return fmt.Errorf("%w: op %d is in partition %q, batch is in %q", ErrInvalid, i, e.PartitionKey, pk)
		}
		if !ValidKey(e.PartitionKey) || !ValidKey(e.RowKey) {
			return fmt.Errorf("%w: op %d has an invalid key %q/%q", ErrInvalid, i, e.PartitionKey, e.RowKey)
		}
		if _, dup := seen[e.RowKey]; dup {
			return fmt.Errorf("%w: row %q appears twice in one batch", ErrInvalid, e.RowKey)
		}
		seen[e.RowKey] = struct{}{}
		switch op.Kind {
		case Insert, Replace, Upsert, Delete, Touch:
		default:
			return fmt.Errorf("%w: op %d has unknown kind %v", ErrInvalid, i, op.Kind)
		}
		if len(e.Data) > MaxDataSize {
			return fmt.Errorf("%w: op %d carries %d bytes (max %d)", ErrInvalid, i, len(e.Data), MaxDataSize)
		}
		if total += len(e.Data); total > MaxBatchDataSize {
			return fmt.Errorf("%w: batch carries more than %d bytes of data", ErrInvalid, MaxBatchDataSize)
		}
	}
	return nil
}

// ValidateQuery checks a query's keys.
func ValidateQuery(q Query) error {
	if !ValidKey(q.PartitionKey) {
		return fmt.Errorf("%w: invalid partition key %q", ErrInvalid, q.PartitionKey)
	}
	if q.Limit < 0 {
		return fmt.Errorf("%w: negative limit", ErrInvalid)
	}
	return nil
}
