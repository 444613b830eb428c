package notify

import (
	"encoding/json"
	"strings"
)

// slackEscape escapes the three characters Slack's mrkdwn treats as
// markup, so a commit message or ref cannot forge a link or mention.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// SlackPayload is the body of a Slack (or Mattermost) incoming-webhook
// post: text as the fallback and notification line, and blocks with the
// details and a link. Mattermost shows text and ignores blocks.
func SlackPayload(ev Event) []byte {
	summary := slackEscape.Replace(ev.Summary())
	var lines []string
	for _, kv := range ev.Details() {
		if kv[0] == "Link" || kv[0] == "Project" {
			continue
		}
		lines = append(lines, "*"+kv[0]+":* "+slackEscape.Replace(kv[1]))
	}
	text := summary
	if u := ev.Data.URL; u != "" {
		text += " <" + slackEscape.Replace(u) + "|open>"
	}
	blocks := []map[string]any{
		{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": "*" + summary + "*"}},
	}
	if len(lines) > 0 {
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": strings.Join(lines, "\n")}})
	}
	if u := ev.Data.URL; u != "" {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []map[string]any{{
			"type": "button", "text": map[string]any{"type": "plain_text", "text": "Open in Slipway"}, "url": u,
		}}})
	}
	b, _ := json.Marshal(map[string]any{"text": text, "blocks": blocks})
	return b
}
