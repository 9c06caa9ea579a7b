// Package cmd is the whole mesh command line. Main(args) runs it, so a user
// program that registers its functions and then calls
// os.Exit(cmd.Main(os.Args[1:])) is a mesh binary that knows them.
package cmd
