// Package mcnflag holds the create-flag types a driver plugin describes its options with.
//
// The package is named mcnflag and the types are named as Docker Machine's so that encoding/gob
// sends the same type names on the wire (*mcnflag.StringFlag, ...): gob names a registered type
// by its package name and type name, not by its import path.
package mcnflag

// Flag is one create flag: its name (String) and its default value.
type Flag interface {
	String() string
	Default() interface{}
}

// StringFlag is a flag holding one string.
type StringFlag struct {
	Name   string
	Usage  string
	EnvVar string
	Value  string
}

func (f StringFlag) String() string       { return f.Name }
func (f StringFlag) Default() interface{} { return f.Value }

// StringSliceFlag is a flag that may be given several times.
type StringSliceFlag struct {
	Name   string
	Usage  string
	EnvVar string
	Value  []string
}

func (f StringSliceFlag) String() string       { return f.Name }
func (f StringSliceFlag) Default() interface{} { return f.Value }

// IntFlag is a flag holding an integer.
type IntFlag struct {
	Name   string
	Usage  string
	EnvVar string
	Value  int
}

func (f IntFlag) String() string       { return f.Name }
func (f IntFlag) Default() interface{} { return f.Value }

// BoolFlag is a switch; it has no default (nil), as in Docker Machine.
type BoolFlag struct {
	Name   string
	Usage  string
	EnvVar string
}

func (f BoolFlag) String() string       { return f.Name }
func (f BoolFlag) Default() interface{} { return nil }
