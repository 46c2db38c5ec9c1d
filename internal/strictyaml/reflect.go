package strictyaml

import (
	"reflect"

	"gopkg.in/yaml.v3"
)

func decodeAny[T any](d *Decoder, n *yaml.Node, path string, dst *T) {
	d.Decode(n, path, reflect.ValueOf(dst).Elem())
}
