// Command app stands in for the adfscim binary in the package test, so the
// test builds in seconds and does not depend on the service's wiring.
package main

import "fmt"

func main() { fmt.Println("adfscim package test fixture") }
