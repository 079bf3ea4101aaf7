package plots

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Slug turns user-supplied text (a variant, stage or profile name, which
// may hold HTML, SQL or path characters) into a safe file-name part: the
// lowercase ASCII letters and digits of s, other runs of characters
// collapsed to one '-', at most 32 characters, then '-' and 8 hex digits
// of s's SHA-256 so that distinct names never collide.
func Slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			if b.Len() >= 32 {
				break
			}
			continue
		}
		dash = true
	}
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:4])
	if b.Len() == 0 {
		return h
	}
	return b.String() + "-" + h
}
