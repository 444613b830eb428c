package models

// WebhookSecretAD is the additional data the project's webhook secret is
// sealed with, and DeployKeyAD that of its deploy key: binding a sealed
// value to its project and column means a value copied to another row or
// column does not open. Slugs never change, which makes them usable here.
func (p *Project) WebhookSecretAD() []byte { return []byte("projects.webhook_secret:" + p.Slug) }

// DeployKeyAD is the additional data the project's deploy key is sealed
// with (see WebhookSecretAD).
func (p *Project) DeployKeyAD() []byte { return []byte("projects.deploy_key:" + p.Slug) }
