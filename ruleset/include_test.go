package ruleset

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestIncludeIsRelativeToTheIncludingFile(t *testing.T) {
	files := fstest.MapFS{
		"etc/nft/main.nft":        {Data: []byte("include \"conf.d/vars.nft\"\ntable ip t {\n chain c {\n  tcp dport $SSH accept\n }\n}\n")},
		"etc/nft/conf.d/vars.nft": {Data: []byte("define SSH = 22\ninclude \"more.nft\"\n")},
		"etc/nft/conf.d/more.nft": {Data: []byte("define HTTP = 80\n")},
	}
	read := func(name string) ([]byte, error) { return fs.ReadFile(files, filepath.ToSlash(name)) }
	src, _ := files.ReadFile("etc/nft/main.nft")
	cmds, err := Parse("etc/nft/main.nft", src, ParseOptions{ReadFile: read})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := New(Options{}).Apply(cmds)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rs.String(), "tcp dport 22 accept") {
		t.Errorf("got\n%s", rs)
	}
}

func TestIncludeErrorsNameTheIncludedFile(t *testing.T) {
	files := map[string]string{"dir/a.nft": "include \"b.nft\"\n", "dir/b.nft": "add table ip t\nadd rule ip t c tcp dport x\n"}
	read := func(name string) ([]byte, error) {
		if s, ok := files[filepath.ToSlash(name)]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
	_, err := Parse("dir/a.nft", []byte(files["dir/a.nft"]), ParseOptions{ReadFile: read})
	if err == nil || err.Error() != `dir/b.nft:2:27: "x" is not a valid inet_service` {
		t.Fatalf("err = %v", err)
	}
	_, err = Parse("dir/a.nft", []byte(`include "missing.nft"`), ParseOptions{ReadFile: read})
	if err == nil || !strings.HasPrefix(err.Error(), `dir/a.nft:1:9: cannot include "missing.nft"`) {
		t.Fatalf("err = %v", err)
	}
	self := map[string]string{"x.nft": "include \"x.nft\"\n"}
	_, err = Parse("x.nft", []byte(self["x.nft"]), ParseOptions{ReadFile: func(string) ([]byte, error) { return []byte(self["x.nft"]), nil }})
	if err == nil || !strings.Contains(err.Error(), "include nested too deeply") {
		t.Fatalf("err = %v", err)
	}
}

func TestDefinesFromOptions(t *testing.T) {
	cmds, err := Parse("d.nft", []byte("add table ip t\nadd chain ip t c\nadd rule ip t c ip saddr $NET drop"),
		ParseOptions{Defines: map[string]string{"NET": "198.18.0.0/15"}})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := New(Options{}).Apply(cmds)
	if err != nil || !strings.Contains(rs.String(), "ip saddr 198.18.0.0/15 drop") {
		t.Fatalf("%v\n%s", err, rs)
	}
}
