package main

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// FuzzConfig: any bytes are a configuration or an error, never a panic,
// and a configuration that loads has no key s3ferry does not know, in any
// document of the file.
func FuzzConfig(f *testing.F) {
	seeds := []string{
		"",
		"settle: 5s\nuplod:\n  workers: 3\n",
		"upload:\n  part-size: 16MiB\n  bwlimit: 50MB/s\n",
		"sources:\n  - path: /srv/rec\n    destination: s3://b/rec/\n    partition-layout: 2006-01-02\n    lookback: 48h\n    include: ['**/*.wav']\n",
		"admin:\n  listen: 0.0.0.0:9180\n  token-file: /etc/s3ferry/admin.token\n",
		"base: &b {workers: 2}\nupload: *b\n",
		"upload:\n  <<: {workers: 2, typo: 1}\n",
		"settle: 1s\n---\ntypo: 1\n",
		"daemon: {rescan-interval: 1m, full-rescan-interval: 0s, shutdown-timeout: 30s}\n",
		"[1, 2]", "- a\n- b\n", "sources: {path: x}\n", "upload: {part-size: [1]}\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := parseConfig(data); err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error of more than one line: %q", err)
			}
			return
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc yaml.Node
			if err := dec.Decode(&doc); err != nil {
				if errors.Is(err, io.EOF) {
					return
				}
				t.Fatalf("parseConfig accepted %q, which yaml reads as: %v", data, err)
			}
			if key := unknownKey(&doc, reflect.TypeOf(fileConfig{}), 0); key != "" {
				t.Fatalf("parseConfig accepted %q with the unknown key %q", data, key)
			}
		}
	})
}

// unknownKey returns a mapping key below n that typ has no yaml field for.
func unknownKey(n *yaml.Node, typ reflect.Type, depth int) string {
	if depth > 50 {
		return ""
	}
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode, yaml.AliasNode:
		target := n.Alias
		if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
			target = n.Content[0]
		}
		if target != nil {
			return unknownKey(target, typ, depth+1)
		}
	case yaml.SequenceNode:
		if typ.Kind() == reflect.Slice {
			for _, c := range n.Content {
				if k := unknownKey(c, typ.Elem(), depth+1); k != "" {
					return k
				}
			}
		}
	case yaml.MappingNode:
		if typ.Kind() != reflect.Struct {
			return ""
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			if key.Tag == "!!merge" {
				if k := unknownKey(val, typ, depth+1); k != "" {
					return k
				}
				continue
			}
			field, ok := yamlField(typ, key.Value)
			if !ok {
				return key.Value
			}
			if k := unknownKey(val, field.Type, depth+1); k != "" {
				return k
			}
		}
	}
	return ""
}

func yamlField(typ reflect.Type, name string) (reflect.StructField, bool) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
