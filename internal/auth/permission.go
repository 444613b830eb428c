package auth

// Permission names something a route lets a user do.
type Permission string

// The permissions. Public routes need no user; Authenticated needs any
// signed-in, enabled user.
const (
	Public        Permission = "public"
	Authenticated Permission = "authenticated"

	ManageUsers Permission = "users.manage"
	ViewAudit   Permission = "audit.view"

	ViewProjects      Permission = "projects.view"
	CreateProject     Permission = "projects.create"
	ManageProject     Permission = "projects.manage"
	LinkLocalRepo     Permission = "projects.link_local"
	ViewWebhookSecret Permission = "projects.webhook_secret"

	// PushCode pushes to a hosted repository over smart HTTP and commits
	// from the web IDE; reading it needs ViewProjects.
	PushCode Permission = "code.push"
	// PushProtectedBranch moves a default branch the project protects
	// (Project.ProtectDefaultBranch).
	PushProtectedBranch Permission = "code.push_protected"

	RunBuild    Permission = "builds.run"
	CancelBuild Permission = "builds.cancel"

	DeployUnprotected  Permission = "deploy.unprotected"
	DeployProtected    Permission = "deploy.protected"
	ManageEnvironments Permission = "environments.manage"
	Promote            Permission = "promotions.create"
	Approve            Permission = "promotions.approve"
	OverrideFreeze     Permission = "deploy.freeze_override"

	RunLoadTest          Permission = "loadtests.run"
	ManageLoadTestLimits Permission = "loadtests.limits"

	// ManageDemo creates the demo project and ships changes to its
	// repository on this machine.
	ManageDemo Permission = "demo.manage"
)

// table is the one permission table: which roles hold each permission.
// Public and Authenticated are handled by Can directly.
var table = map[Permission][]Role{
	ManageUsers: {Admin},
	ViewAudit:   {Admin, Lead},

	ViewProjects:      {Admin, Lead, Developer, QA, Viewer},
	CreateProject:     {Admin, Lead, Developer},
	ManageProject:     {Admin, Lead},
	LinkLocalRepo:     {Admin},
	ViewWebhookSecret: {Admin, Lead},

	PushCode:            {Admin, Lead, Developer},
	PushProtectedBranch: {Admin, Lead},

	RunBuild:    {Admin, Lead, Developer},
	CancelBuild: {Admin, Lead, Developer},

	DeployUnprotected:  {Admin, Lead, Developer},
	DeployProtected:    {Admin, Lead},
	ManageEnvironments: {Admin},
	Promote:            {Admin, Lead, Developer},
	Approve:            {Admin, Lead},
	OverrideFreeze:     {Admin},

	RunLoadTest:          {Admin, Lead, QA},
	ManageLoadTestLimits: {Admin},

	ManageDemo: {Admin},
}

// Can reports whether role holds perm. An empty role is anonymous.
func Can(role Role, perm Permission) bool {
	switch perm {
	case Public:
		return true
	case Authenticated:
		return role != ""
	}
	for _, r := range table[perm] {
		if r == role {
			return true
		}
	}
	return false
}

// Known reports whether perm is a declared permission.
func Known(perm Permission) bool {
	if perm == Public || perm == Authenticated {
		return true
	}
	_, ok := table[perm]
	return ok
}
