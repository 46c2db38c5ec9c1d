package gen

// rng is a splitmix64 stream: tiny, fast, and specified here in full, so the generator's output
// never depends on a standard-library algorithm that might change between Go releases.
type rng struct{ s uint64 }

const golden = 0x9e3779b97f4a7c15

// mix64 is splitmix64's finaliser, a bijection on uint64.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) next() uint64 {
	r.s += golden
	return mix64(r.s)
}

// float returns a uniform float64 in [0, 1).
func (r *rng) float() float64 { return float64(r.next()>>11) * (1.0 / (1 << 53)) }

// intn returns a uniform int in [0, n) for n > 0 (multiply-shift; the bias is below 2^-32 for
// the small n used here).
func (r *rng) intn(n int) int {
	hi, _ := mul64(r.next(), uint64(n))
	return int(hi)
}

// mul64 returns the 128-bit product of a and b as (hi, lo).
func mul64(a, b uint64) (hi, lo uint64) {
	const mask32 = 1<<32 - 1
	a0, a1 := a&mask32, a>>32
	b0, b1 := b&mask32, b>>32
	w0 := a0 * b0
	t := a1*b0 + w0>>32
	w1, w2 := t&mask32, t>>32
	w1 += a0 * b1
	return a1*b1 + w2 + w1>>32, a * b
}

// hash3 hashes three words into one, for pure functions of (seed, match, slot).
func hash3(a, b, c uint64) uint64 {
	return mix64(mix64(mix64(a^golden)+b) + c)
}
