package deploy

import (
	"github.com/adfscim/adfscim/internal/config"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// These tests read infra/ and assert what the deployment promises: no shared
// keys, HTTPS and TLS 1.2 only, RBAC-only Key Vault, local auth off for
// telemetry, one user-assigned identity for everything, only the listed role
// grants, and a delegation on each factory limited to the mapped roles.

func TestStorageAccountSecurity(t *testing.T) {
	files := loadInfra(t)
	f := mustFile(t, files, "modules/storage.bicep")
	acct := f.resource(t, "Microsoft.Storage/storageAccounts")
	tests := []struct{ path, want string }{
		{"properties.minimumTlsVersion", "'TLS1_2'"},
		{"properties.supportsHttpsTrafficOnly", "true"},
		{"properties.allowBlobPublicAccess", "false"},
		{"properties.allowSharedKeyAccess", "false"},
		{"properties.defaultToOAuthAuthentication", "true"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := get(acct.body, tt.path); got != tt.want {
				t.Errorf("storage account %s = %q, want %s", tt.path, got, tt.want)
			}
		})
	}
	t.Run("deployment container is private", func(t *testing.T) {
		c := f.resource(t, "Microsoft.Storage/storageAccounts/blobServices/containers")
		if got := get(c.body, "properties.publicAccess"); got != "'None'" {
			t.Errorf("container publicAccess = %q, want 'None'", got)
		}
	})
	t.Run("no other storage account", func(t *testing.T) {
		for name, g := range files {
			if name == f.name {
				continue
			}
			for _, r := range g.resources("Microsoft.Storage/storageAccounts") {
				if !strings.Contains(r.header, "existing") { // a reference to the one account is fine
					t.Errorf("infra/%s declares a storage account outside modules/storage.bicep", name)
				}
			}
		}
	})
}

func TestTables(t *testing.T) {
	files := loadInfra(t)
	main := mustFile(t, files, "main.bicep")
	var got []string
	for _, s := range regexp.MustCompile(`'([^']*)'`).FindAllStringSubmatch(main.variable(t, "tableNames"), -1) {
		got = append(got, s[1])
	}
	if want := Tables(); !slices.Equal(got, want) {
		t.Errorf("main.bicep tableNames = %v, want deploy.Tables() %v", got, want)
	}
	st := mustFile(t, files, "modules/storage.bicep")
	tables := st.resource(t, "Microsoft.Storage/storageAccounts/tableServices/tables")
	if !strings.Contains(tables.header, "[for t in tableNames:") || get(tables.body, "name") != "t" {
		t.Errorf("storage.bicep does not create one table per tableNames entry: %s", tables.header)
	}
}

func TestKeyVaultSecurity(t *testing.T) {
	f := mustFile(t, loadInfra(t), "modules/keyvault.bicep")
	kv := f.resource(t, "Microsoft.KeyVault/vaults")
	tests := []struct{ path, want string }{
		{"properties.enableRbacAuthorization", "true"},
		{"properties.enableSoftDelete", "true"},
		{"properties.enablePurgeProtection", "true"},
		{"properties.accessPolicies", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := get(kv.body, tt.path); got != tt.want {
				t.Errorf("key vault %s = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestMonitoringLocalAuthOff(t *testing.T) {
	f := mustFile(t, loadInfra(t), "modules/monitoring.bicep")
	tests := []struct{ typ, path string }{
		{"Microsoft.Insights/components", "properties.DisableLocalAuth"},
		{"Microsoft.OperationalInsights/workspaces", "properties.features.disableLocalAuth"},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			if got := get(f.resource(t, tt.typ).body, tt.path); got != "true" {
				t.Errorf("%s = %q, want true", tt.path, got)
			}
		})
	}
}

func TestFunctionApp(t *testing.T) {
	files := loadInfra(t)
	f := mustFile(t, files, "modules/functionapp.bicep")
	plan := f.resource(t, "Microsoft.Web/serverfarms")
	site := f.resource(t, "Microsoft.Web/sites")
	tests := []struct {
		name, obj, path, want string
	}{
		{"Flex Consumption SKU", plan.body, "sku.name", "'FC1'"},
		{"Flex Consumption tier", plan.body, "sku.tier", "'FlexConsumption'"},
		{"Linux plan", plan.body, "properties.reserved", "true"},
		{"Linux app", site.body, "kind", "'functionapp,linux'"},
		{"user-assigned identity only", site.body, "identity.type", "'UserAssigned'"},
		{"HTTPS only", site.body, "properties.httpsOnly", "true"},
		{"TLS 1.2", site.body, "properties.siteConfig.minTlsVersion", "'1.2'"},
		{"no FTP", site.body, "properties.siteConfig.ftpsState", "'Disabled'"},
		{"custom handler runtime", site.body, "properties.functionAppConfig.runtime.name", "'custom'"},
		{"runtime version", site.body, "properties.functionAppConfig.runtime.version", "'1.0'"},
		{"package read with the identity", site.body, "properties.functionAppConfig.deployment.storage.authentication.type", "'UserAssignedIdentity'"},
		{"package identity", site.body, "properties.functionAppConfig.deployment.storage.authentication.userAssignedIdentityResourceId", "identityId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := get(tt.obj, tt.path); got != tt.want {
				t.Errorf("%s = %q, want %s", tt.path, got, tt.want)
			}
		})
	}
	t.Run("basic publishing credentials off", func(t *testing.T) {
		policies := f.resources("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
		var names []string
		for _, p := range policies {
			if get(p.body, "properties.allow") != "false" {
				t.Errorf("%s allows basic credentials", p.symbol)
			}
			names = append(names, get(p.body, "name"))
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"'ftp'", "'scm'"}) {
			t.Errorf("basic publishing policies for %v, want ftp and scm", names)
		}
	})
	t.Run("no system-assigned identity anywhere", func(t *testing.T) {
		for name, g := range files {
			if strings.Contains(g.src, "SystemAssigned") {
				t.Errorf("infra/%s mentions SystemAssigned", name)
			}
		}
	})
}

// appSettingNames returns the app settings the deployment sets: the
// service's (main.bicep) and the host's (functionapp.bicep).
func appSettingNames(t *testing.T, files map[string]bicepFile) map[string]string {
	t.Helper()
	main := mustFile(t, files, "main.bicep")
	fa := mustFile(t, files, "modules/functionapp.bicep")
	out := make(map[string]string)
	for k, v := range props(get(main.module(t, "functionApp").body, "params.appSettings")) {
		out[k] = v
	}
	for k, v := range props(fa.variable(t, "hostSettings")) {
		if _, dup := out[k]; dup {
			t.Errorf("app setting %s set both in main.bicep and functionapp.bicep", k)
		}
		out[k] = v
	}
	settings := fa.resource(t, "Microsoft.Web/sites/config")
	if get(settings.body, "name") != "'appsettings'" || get(settings.body, "properties") != "union(appSettings, hostSettings)" {
		t.Errorf("functionapp.bicep does not set union(appSettings, hostSettings) as the app settings: %s", settings.body)
	}
	if len(out) == 0 {
		t.Fatal("no app settings found")
	}
	return out
}

func TestAppSettings(t *testing.T) {
	files := loadInfra(t)
	set := appSettingNames(t, files)
	for _, s := range config.Settings() {
		t.Run(s.Name, func(t *testing.T) {
			_, ok := set[s.Name]
			switch {
			case s.Where.InAzure() && !ok:
				t.Errorf("%s (%s) is not set by the Bicep templates", s.Name, s.Where)
			case !s.Where.InAzure() && ok:
				t.Errorf("%s is a %s-only setting but the Bicep templates set it", s.Name, s.Where)
			}
		})
	}
	t.Run("forbidden on Flex Consumption", func(t *testing.T) {
		for _, name := range config.ForbiddenAppSettings() {
			for fname, f := range files {
				if strings.Contains(f.src, name) {
					t.Errorf("infra/%s mentions %s", fname, name)
				}
			}
		}
		for name := range set {
			if strings.HasPrefix(name, "WEBSITE_CONTENT") {
				t.Errorf("app setting %s is not allowed on Flex Consumption", name)
			}
		}
	})
	t.Run("host storage through the identity", func(t *testing.T) {
		want := map[string]string{
			"AzureWebJobsStorage__accountName": "storageAccountName",
			"AzureWebJobsStorage__credential":  "'managedidentity'",
			"AzureWebJobsStorage__clientId":    "identityClientId",
		}
		for k, v := range want {
			if set[k] != v {
				t.Errorf("%s = %q, want %s", k, set[k], v)
			}
		}
		if _, ok := set["AzureWebJobsStorage"]; ok {
			t.Error("AzureWebJobsStorage (a connection string with a key) is set")
		}
	})
	t.Run("telemetry with Entra ID", func(t *testing.T) {
		if v := set["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]; v != "'ClientId=${identityClientId};Authorization=AAD'" {
			t.Errorf("APPLICATIONINSIGHTS_AUTHENTICATION_STRING = %q", v)
		}
	})
	t.Run("service reaches Azure as the identity", func(t *testing.T) {
		tests := map[string]string{
			"AZURE_CLIENT_ID": "identity.outputs.clientId",
			"TABLES_ENDPOINT": "storage.outputs.tableEndpoint",
			"KEYVAULT_URL":    "keyVault.outputs.uri",
		}
		for k, v := range tests {
			if set[k] != v {
				t.Errorf("%s = %q, want %s", k, set[k], v)
			}
		}
	})
}

// Built-in role definitions, by the file allowed to assign them.
var allowedRoles = map[string]map[string]string{
	"modules/storage.bicep": {
		"b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
		"0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
	},
	"modules/keyvault.bicep": {
		"4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
		"b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
	},
	"modules/monitoring.bicep": {
		"3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
	},
	"modules/checkpoints.bicep": {
		"12338af0-0e69-4776-bea7-57ae8d297424": "Key Vault Crypto User",
		"ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
	},
	"modules/factory-rbac.bicep": {
		RBACAdministratorRoleID: "Role Based Access Control Administrator",
	},
}

var roleDefRE = regexp.MustCompile(`^subscriptionResourceId\('Microsoft\.Authorization/roleDefinitions', (\w+)\)$`)

// Custom roles adfscim defines, by the file allowed to assign them and the
// expression naming the definition; their actions are checked in
// TestCustomRoleActions.
var allowedCustomRoles = map[string]map[string]string{
	"modules/factory-rbac.bicep":     {"pimRoleId": "adfscim PIM schedule writer (pim-role.bicep)"},
	"modules/assignment-count.bicep": {"role.id": "adfscim role assignment counter"},
}

func TestRoleAssignments(t *testing.T) {
	files := loadInfra(t)
	type grant struct {
		file, role string
		d          decl
	}
	var grants []grant
	for name, f := range files {
		vars := f.stringVars()
		for _, ra := range f.resources("Microsoft.Authorization/roleAssignments") {
			m := roleDefRE.FindStringSubmatch(get(ra.body, "properties.roleDefinitionId"))
			if _, custom := allowedCustomRoles[name][get(ra.body, "properties.roleDefinitionId")]; m == nil && custom {
				if get(ra.body, "properties.principalType") != "'ServicePrincipal'" {
					t.Errorf("infra/%s %s: custom role not assigned to the service principal", name, ra.symbol)
				}
				continue
			}
			if m == nil {
				t.Errorf("infra/%s %s: roleDefinitionId %q is not a named built-in role", name, ra.symbol, get(ra.body, "properties.roleDefinitionId"))
				continue
			}
			role := vars[m[1]]
			if _, ok := allowedRoles[name][role]; !ok {
				t.Errorf("infra/%s %s assigns role %q (%s), not allowed there", name, ra.symbol, role, m[1])
			}
			if get(ra.body, "properties.principalType") == "" {
				t.Errorf("infra/%s %s has no principalType", name, ra.symbol)
			}
			grants = append(grants, grant{name, role, ra})
		}
	}
	for file, roles := range allowedRoles {
		for id, roleName := range roles {
			if !slices.ContainsFunc(grants, func(g grant) bool { return g.file == file && g.role == id }) {
				t.Errorf("infra/%s does not assign %s", file, roleName)
			}
		}
	}
	for _, g := range grants {
		switch g.role {
		case "b86a8fe4-44ce-4948-aee5-eccb2c155cd7":
			// Secrets Officer: for the service only behind the parameter.
			if get(g.d.body, "properties.principalId") == "principalId" && !strings.Contains(g.d.header, "if (grantSecretsOfficer)") {
				t.Errorf("Key Vault Secrets Officer for the service is not behind grantSecretsOfficer")
			}
		case RBACAdministratorRoleID:
			if get(g.d.body, "properties.conditionVersion") != "'2.0'" || get(g.d.body, "properties.condition") != "condition" {
				t.Errorf("Role Based Access Control Administrator assigned without the delegation condition: %s", g.d.body)
			}
			if get(g.d.body, "properties.principalType") != "'ServicePrincipal'" {
				t.Errorf("delegation not to the service principal")
			}
		}
	}
	t.Run("no broad role anywhere", func(t *testing.T) {
		broad := map[string]string{
			"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
			"b24988ac-6210-4f6c-9e14-9cdf4c71f8e5": "Contributor",
			"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
		}
		for name, f := range files {
			for id, role := range broad {
				if strings.Contains(strings.ToLower(f.src), id) {
					t.Errorf("infra/%s mentions %s", name, role)
				}
			}
		}
	})
}

func TestDelegationConditionTemplate(t *testing.T) {
	f := mustFile(t, loadInfra(t), "modules/factory-rbac.bicep")
	tmpl := f.variable(t, "conditionTemplate")
	if !strings.HasPrefix(tmpl, "'''") {
		t.Fatalf("conditionTemplate is not a multi-line literal: %s", tmpl)
	}
	tmpl = strings.Trim(tmpl, "'")
	if got := f.variable(t, "condition"); got != "replace(conditionTemplate, '{roleIds}', join(roleDefinitionIds, ', '))" {
		t.Fatalf("condition = %s; want the template filled with the roleDefinitionIds parameter", got)
	}
	if guid := regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-`).FindString(tmpl); guid != "" {
		t.Errorf("template names a role itself (%s...): it must list only the mapped roles", guid)
	}
	tests := []struct {
		name string
		ids  []string
	}{
		{"one role", []string{"673868aa-7521-48a0-acc6-0f60742d39f5"}},
		{"two roles", []string{"673868aa-7521-48a0-acc6-0f60742d39f5", "acdd72a7-3385-48ef-bd42-f606fba81ae7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rendered := strings.ReplaceAll(tmpl, "{roleIds}", strings.Join(tt.ids, ", "))
			if got, want := NormalizeCondition(rendered), DelegationCondition(tt.ids); got != want {
				t.Errorf("rendered condition\n%s\nwant\n%s", got, want)
			}
			// Every role list in it is exactly the mapped roles, every
			// principal list exactly User and Group.
			for _, m := range regexp.MustCompile(`GuidEquals \{([^}]*)\}`).FindAllStringSubmatch(rendered, -1) {
				if m[1] != strings.Join(tt.ids, ", ") {
					t.Errorf("role list {%s}, want {%s}", m[1], strings.Join(tt.ids, ", "))
				}
			}
			for _, m := range regexp.MustCompile(`StringEqualsIgnoreCase \{([^}]*)\}`).FindAllStringSubmatch(rendered, -1) {
				if m[1] != "'User', 'Group'" {
					t.Errorf("principal types {%s}, want {'User', 'Group'}", m[1])
				}
			}
		})
	}
	var mod decl
	for _, ra := range f.resources("Microsoft.Authorization/roleAssignments") {
		if ra.symbol == "delegation" {
			mod = ra
		}
	}
	if get(mod.body, "scope") != "factory" {
		t.Errorf("delegation scope = %q, want the factory", get(mod.body, "scope"))
	}
}

func TestDelegationCondition(t *testing.T) {
	got := DelegationCondition([]string{"a", "b"})
	for _, want := range []string{
		"!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})",
		"!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})",
		"@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {a, b}",
		"@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {a, b}",
		"@Request[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'User', 'Group'}",
		"@Resource[Microsoft.Authorization/roleAssignments:PrincipalType] ForAnyOfAnyValues:StringEqualsIgnoreCase {'User', 'Group'}",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("condition lacks %s", want)
		}
	}
	if strings.Count(got, "(") != strings.Count(got, ")") {
		t.Errorf("unbalanced parentheses: %s", got)
	}
}

// TestFactoryWiring checks that ADFSCIM_MAPPING and each factory's allowed
// roles come from the same resolved bindings, and that the delegation is
// deployed in each factory's own subscription and resource group.
func TestFactoryWiring(t *testing.T) {
	files := loadInfra(t)
	main := mustFile(t, files, "main.bicep")
	rbac := mustFile(t, files, "modules/factory-rbac.bicep")
	mod := main.module(t, "factoryRbac")
	checks := []struct{ name, got, want string }{
		{"one delegation per factory", mod.header, "= [for (f, i) in factoryIds: "},
		{"module path", mod.typ, "modules/factory-rbac.bicep"},
		{"factory's own subscription and group", get(mod.body, "scope"), "resourceGroup(split(f, '/')[2], split(f, '/')[4])"},
		{"factory", get(mod.body, "params.factoryId"), "f"},
		{"bindings and direct grants", get(mod.body, "params.bindings"), "delegatedBindings"},
		{"principal", get(mod.body, "params.principalId"), "identity.outputs.principalId"},
		{"factories named by the bindings and grants", main.variable(t, "factoryIds"), "union(flatten(map(delegatedBindings, b => b.factories)), [])"},
		{"mapping from the same bindings and grants", get(main.module(t, "functionApp").body, "params.appSettings.ADFSCIM_MAPPING"), "string({\n        bindings: resolvedBindings\n        grants: resolvedGrants\n      })"},
		{"delegation covers the grants' roles", main.variable(t, "delegatedBindings"), "concat(resolvedBindings, flatten(map(resolvedGrants, g => map(g.roles, r => {\n  group: ''\n  role: r\n  factories: g.factories\n  kind: 'active'\n  maxDuration: ''\n}))))"},
		{"roles bound on this factory only", rbac.variable(t, "roleDefinitionIds"), "union(map(filter(bindings, b => contains(b.factories, factoryId)), b => b.role), [])"},
		{"the factory itself", get(rbac.resource(t, "Microsoft.DataFactory/factories").body, "name"), "last(split(factoryId, '/'))"},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want && !(strings.HasPrefix(c.name, "one delegation") && strings.Contains(c.got, c.want)) {
				t.Errorf("got %q, want %q", c.got, c.want)
			}
		})
	}
	if grants := main.variable(t, "resolvedGrants"); !strings.Contains(grants, "roles: map(g.roles, r => contains(roleAliases, r) ? roleAliases[r] : r)") {
		t.Errorf("resolvedGrants does not resolve role aliases: %s", grants)
	}
	resolved := main.variable(t, "resolvedBindings")
	if !strings.Contains(resolved, "role: contains(roleAliases, b.role) ? roleAliases[b.role] : b.role") {
		t.Errorf("resolvedBindings does not resolve role aliases: %s", resolved)
	}
}

func TestOutputs(t *testing.T) {
	files := loadInfra(t)
	main := mustFile(t, files, "main.bicep")
	var scim Function
	for _, f := range Functions() {
		if f.Name == "ScimApi" {
			scim = f
		}
	}
	want := map[string]string{
		"scimBaseUrl":    "'https://${functionApp.outputs.defaultHostName}" + scim.Prefix() + "'",
		"entraTenantUrl": "'https://${functionApp.outputs.defaultHostName}" + scim.Prefix() + "?aadOptscim062020'",
		// The runbook reads these two for the commands run from a workstation.
		"tablesEndpoint":  "storage.outputs.tableEndpoint",
		"appInsightsName": "monitoring.outputs.name",
	}
	for name, v := range want {
		m := regexp.MustCompile(`(?m)^output ` + name + ` string = (.*)$`).FindStringSubmatch(main.src)
		if m == nil || strings.TrimSpace(m[1]) != v {
			t.Errorf("output %s = %v, want %s", name, m, v)
		}
	}
	mon := mustFile(t, files, "modules/monitoring.bicep")
	if !regexp.MustCompile(`(?m)^output name string = appInsights\.name$`).MatchString(mon.src) {
		t.Error("modules/monitoring.bicep does not output the Application Insights name")
	}
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
var factoryIDRE = regexp.MustCompile(`^/subscriptions/[0-9a-f-]{36}/resourceGroups/[-\w.()]+/providers/Microsoft\.DataFactory/factories/[A-Za-z0-9-]+$`)

// TestExampleParameters checks that the example parameter file only sets
// parameters main.bicep declares, and that its bindings have the shape
// main.bicep expects.
func TestExampleParameters(t *testing.T) {
	files := loadInfra(t)
	main := mustFile(t, files, "main.bicep")
	p := mustFile(t, files, "main.bicepparam")
	if !regexp.MustCompile(`(?m)^using 'main\.bicep'$`).MatchString(p.src) {
		t.Error("main.bicepparam does not use main.bicep")
	}
	declared := make(map[string]bool)
	for _, m := range regexp.MustCompile(`(?m)^param (\w+) `).FindAllStringSubmatch(main.src, -1) {
		declared[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`(?m)^param (\w+) =`).FindAllStringSubmatch(p.src, -1) {
		if !declared[m[1]] {
			t.Errorf("main.bicepparam sets %s, which main.bicep does not declare", m[1])
		}
	}
	aliases := props(main.variable(t, "roleAliases"))
	roles := regexp.MustCompile(`(?m)^\s*role: '([^']*)'`).FindAllStringSubmatch(p.src, -1)
	if len(roles) == 0 {
		t.Fatal("main.bicepparam has no bindings")
	}
	for _, m := range roles {
		if _, ok := aliases[m[1]]; !ok && !guidRE.MatchString(m[1]) {
			t.Errorf("binding role %q is neither an alias nor a role GUID", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`'(/subscriptions/[^']*)'`).FindAllStringSubmatch(p.src, -1) {
		if !factoryIDRE.MatchString(m[1]) {
			t.Errorf("%s is not a Data Factory resource id", m[1])
		}
	}
}

// TestCustomRoleActions: the custom roles adfscim defines for PIM and for
// counting assignments grant exactly the actions they need.
func TestCustomRoleActions(t *testing.T) {
	files := loadInfra(t)
	want := map[string][]string{
		"modules/pim-role.bicep": {
			"Microsoft.Authorization/roleAssignmentScheduleRequests/write", "Microsoft.Authorization/roleAssignmentScheduleRequests/read",
			"Microsoft.Authorization/roleEligibilityScheduleRequests/write", "Microsoft.Authorization/roleEligibilityScheduleRequests/read",
			"Microsoft.Authorization/roleAssignmentSchedules/read", "Microsoft.Authorization/roleEligibilitySchedules/read",
			"Microsoft.Authorization/roleAssignmentScheduleInstances/read", "Microsoft.Authorization/roleEligibilityScheduleInstances/read",
		},
		"modules/assignment-count.bicep": {"Microsoft.Authorization/roleAssignments/read"},
	}
	for name, actions := range want {
		f, ok := files[name]
		if !ok {
			t.Fatalf("infra/%s missing", name)
		}
		rd := f.resource(t, "Microsoft.Authorization/roleDefinitions")
		got := regexp.MustCompile(`'(Microsoft\.[^']+)'`).FindAllStringSubmatch(rd.body, -1)
		var gotActions []string
		for _, m := range got {
			gotActions = append(gotActions, m[1])
		}
		if strings.Join(gotActions, " ") != strings.Join(actions, " ") {
			t.Errorf("infra/%s actions %v, want %v", name, gotActions, actions)
		}
	}
}
