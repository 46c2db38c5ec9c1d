package gen

// Mood is the sentiment an emoji expresses, as the emoji-mood job scores it.
type Mood int8

// The moods. A mood window counts positive and negative reactions; neutral ones count only in
// its total n.
const (
	Neutral  Mood = 0
	Positive Mood = 1
	Negative Mood = -1
)

func (m Mood) String() string {
	switch m {
	case Positive:
		return "positive"
	case Negative:
		return "negative"
	}
	return "neutral"
}

// Emoji is one reaction a viewer can send.
type Emoji struct {
	Glyph string // the UTF-8 text sent in the event's emoji field
	Name  string // a short ASCII name, for logs and job files
	Mood  Mood
}

// emojis is the reaction palette in global popularity order (rank 0 is the most popular before
// each match's twist). Indices into it are the Emoji numbers in Meta.
var emojis = [...]Emoji{
	{"🔥", "fire", Positive},
	{"😂", "joy", Positive},
	{"👏", "clap", Positive},
	{"❤️", "heart", Positive},
	{"🎉", "party", Positive},
	{"😮", "wow", Neutral},
	{"🏏", "cricket", Positive},
	{"🙏", "pray", Neutral},
	{"😢", "cry", Negative},
	{"😡", "angry", Negative},
	{"💯", "hundred", Positive},
	{"😱", "scream", Negative},
}

// numEmojis is the size of the palette.
const numEmojis = len(emojis)

// Emoji indices used by the moment palettes.
const (
	eFire = iota
	eJoy
	eClap
	eHeart
	eParty
	eWow
	eCricket
	ePray
	eCry
	eAngry
	eHundred
	eScream
)

// Emojis returns the reaction palette, in index order (the caller owns the slice).
func Emojis() []Emoji {
	out := make([]Emoji, numEmojis)
	copy(out, emojis[:])
	return out
}

// MoodOf returns the mood of an emoji glyph; unknown glyphs are Neutral.
func MoodOf(glyph string) Mood {
	for i := range emojis {
		if emojis[i].Glyph == glyph {
			return emojis[i].Mood
		}
	}
	return Neutral
}
