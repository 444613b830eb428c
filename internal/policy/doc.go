// Package policy owns the rules that guard deploys into an environment:
// who may approve a promotion (roles, no self-approval by the requester or
// the commit author), how many approvals it needs and which of them still
// count (they bind to the artifact digest and the target's configuration
// version), the load-test gate, and freeze windows. It is pure: callers
// load the facts, this package decides. Who may deploy, and who may
// override a freeze, is internal/delivery's gate (with internal/auth's
// permission table).
package policy
