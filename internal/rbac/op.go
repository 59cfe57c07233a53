package rbac

import "fmt"

// Op is what the reconciler does to one role assignment.
type Op string

// The operations on role assignments. There are no others: ParseOp and the
// JSON decoding of an Op reject any other value.
const (
	OpCreate Op = "create"
	OpDelete Op = "delete"
	// OpRenew extends a time-bound assignment or an eligibility (a PIM
	// schedule) that is due to end while its holder keeps the binding.
	OpRenew Op = "renew"
)

// ParseOp returns the Op named s, or an error for a name that is not one.
func ParseOp(s string) (Op, error) {
	switch op := Op(s); op {
	case OpCreate, OpDelete, OpRenew:
		return op, nil
	}
	return "", fmt.Errorf("rbac: unknown operation %q (create, delete or renew)", s)
}

// UnmarshalText parses an Op, so that a report read back (JSON) cannot
// carry an operation the reconciler never performs.
func (o *Op) UnmarshalText(b []byte) error {
	op, err := ParseOp(string(b))
	if err != nil {
		return err
	}
	*o = op
	return nil
}
