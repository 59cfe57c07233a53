package patch

import (
	"testing"
)

// TestEntraRolesJSONString covers Entra ID's AppRoleAssignmentsComplex on
// PATCH without aadOptscim062020: each role is a JSON string in "value",
// decoded to {"value", "display"} so that adds and removes by value meet
// what a POST stored.
func TestEntraRolesJSONString(t *testing.T) {
	withRoles := with(t, baseUser, `{"roles":[{"value":"r1","display":"Role one","type":"WindowsAzureActiveDirectoryRole"},{"value":"r2"}]}`)
	tests := []applyCase{
		{
			name:    "Add decodes the string",
			body:    body(`{"op":"Add","path":"roles","value":[{"value":"{\"id\":\"06b07648-ecfe-589f-9d2f-6325724a46ee\",\"value\":\"r1\",\"displayName\":\"Role one\"}"}]}`),
			want:    with(t, baseUser, `{"roles":[{"value":"r1","display":"Role one"}]}`),
			changed: []string{"roles"},
		},
		{
			name:    "Remove with a JSON string removes that role only",
			base:    withRoles,
			body:    body(`{"op":"Remove","path":"roles","value":[{"value":"{\"id\":\"0c9b8a7d-6e5f-4a3b-9c1d-2e3f4a5b6c7d\",\"value\":\"r1\",\"displayName\":\"Role one\"}"}]}`),
			want:    with(t, baseUser, `{"roles":[{"value":"r2"}]}`),
			changed: []string{"roles"},
		},
		{
			name: "A plain value is left alone",
			body: body(`{"op":"add","path":"roles","value":[{"value":"r3","display":"Three"}]}`),
			want: with(t, baseUser, `{"roles":[{"value":"r3","display":"Three"}]}`), changed: []string{"roles"},
		},
		{
			name: "A string that is not Entra's object is left for validation",
			body: body(`{"op":"add","path":"roles","value":[{"value":"{not json"}]}`),
			want: with(t, baseUser, `{"roles":[{"value":"{not json"}]}`), changed: []string{"roles"},
		},
		{
			name: "Other attributes are not decoded",
			body: body(`{"op":"replace","path":"emails","value":[{"value":"{\"value\":\"e1\"}"}]}`),
			want: with(t, baseUser, `{"emails":[{"value":"{\"value\":\"e1\"}"}]}`), changed: []string{"emails"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runApply(t, tc) })
	}
}
