package models

// ShortSHA is a commit SHA as pages and messages show it: its first 10
// characters (the whole string when shorter). The full SHA goes in a
// title or a link where people may need it.
func ShortSHA(sha string) string {
	if len(sha) > 10 {
		return sha[:10]
	}
	return sha
}

// ShortDigest is an artifact's SHA-256 digest as pages and messages show
// it: its first 12 characters (the whole string when shorter).
func ShortDigest(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}
