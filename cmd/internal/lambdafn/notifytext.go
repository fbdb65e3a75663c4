package lambdafn

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxTyped is the most characters of one typed text (a reason, a comment) that a
// notification shows (the default reason limit); the rest is cut, with clippedMark.
const maxTyped = 500

// clippedMark ends a typed text that was cut.
const clippedMark = "… (cut)"

// chatLookalikes replace, in typed text for chat, every character that Slack's
// mrkdwn or Teams' Markdown reads as markup (emphasis, code, strike, links,
// <url|label>, <!here>, mentions, &-entities) by one that looks alike and means
// nothing. Backslash escapes are not used: Slack shows them.
var chatLookalikes = strings.NewReplacer(
	"<", "‹", ">", "›", "&", "＆", "@", "＠",
	"*", "∗", "_", "＿", "~", "∼", "`", "ˋ",
	"[", "［", "]", "］", "|", "｜",
)

// codeLookalikes are what a code span must still neutralise: its own delimiter
// and, for clients that read them there too, mentions and angle links.
var codeLookalikes = strings.NewReplacer("`", "ˋ", "<", "‹", ">", "›", "&", "＆", "@", "＠")

// linkDefang stops mail and chat clients from making a link of typed text: a
// scheme's "://" and a leading "www." read as text, the address still readable.
var linkDefang = strings.NewReplacer("://", "[:]//", "www.", "www[.]", "WWW.", "WWW[.]")

// typedChat is text a person typed, inert in chat: on one line, without invisible
// or direction-changing characters, cut to maxTyped, no markup, no link.
func typedChat(s string) string {
	return defangDomains(linkDefang.Replace(chatLookalikes.Replace(oneLine(s))))
}

// typedMail is typedChat for plain-text mail, which has no markup: the
// characters stay as typed, but no link.
func typedMail(s string) string { return defangDomains(linkDefang.Replace(oneLine(s))) }

// defangDomains brackets every dot (or a dot IDNA reads as one: 。．｡) between a
// letter or digit and a letter or digit, unless both are digits: a bare host name
// (evil.example/login) reads evil[.]example, which no client links; numbers
// (2.5, 10.0.0.1) stay as typed.
func defangDomains(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if isDot(r) && i > 0 && i+1 < len(rs) && isLabel(rs[i-1]) && isLabel(rs[i+1]) &&
			!(unicode.IsDigit(rs[i-1]) && unicode.IsDigit(rs[i+1])) {
			b.WriteString("[" + string(r) + "]")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isDot(r rune) bool { return r == '.' || r == '。' || r == '．' || r == '｡' }

func isLabel(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// value is a structured value: as is in mail, a code span in chat (read literally
// by Slack and Teams) on one line.
func value(s string, chat bool) string {
	s = strings.Map(visible, s)
	if !chat {
		return s
	}
	return "`" + codeLookalikes.Replace(s) + "`"
}

// oneLine cuts s to maxTyped characters and makes it one line of visible text.
func oneLine(s string) string {
	s = strings.TrimSpace(strings.Map(visible, s))
	if utf8.RuneCountInString(s) > maxTyped {
		s = string([]rune(s)[:maxTyped]) + clippedMark
	}
	return s
}

// visible maps a line break or other space control to a space, and a character
// that is invisible or reorders text (C0/C1 controls, zero-width and bidi
// formatting, U+2028/U+2029, tag characters) to U+FFFD, so that its presence shows.
func visible(r rune) rune {
	switch {
	case r == '\t', r == '\n', r == '\r', r == '\v', r == '\f', r == '\u0085', r == '\u2028', r == '\u2029':
		return ' '
	case unicode.IsControl(r), unicode.Is(unicode.Cf, r), unicode.Is(unicode.Co, r):
		return '\uFFFD'
	}
	return r
}
