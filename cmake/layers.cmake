# cmake/layers.cmake - the layering check of one library (DESIGN.md §1: no
# module includes a header from a layer above it, nor from a module beside
# it that it does not link).
#
#   cmake -DCONFIG=<build>/layers/<library>.cmake -DOUT=<stamp> -P cmake/layers.cmake
#
# CONFIG sets NAME (the library), FILES (its sources and headers, absolute
# paths) and ALLOWED (the project headers it may include: its own and those
# of the libraries it links; zc_layers in the top-level CMakeLists.txt
# writes it from zc_module's SOURCES, HEADERS and DEPS).  Every `#include "dir/name.h"` of a file is looked up in
# ALLOWED; an include without a directory ("bench.h") is not a module's and
# is not checked.  The first include that is not allowed stops the build
# with a message naming the file, the line and the header; otherwise OUT is
# written, so the check runs again only when a file changes.  The build
# runs it before compiling the library (zc_layers in CMakeLists.txt), and
# ctest's `layers` test proves it refuses a forbidden include.
cmake_minimum_required(VERSION 3.22)

foreach(v CONFIG OUT)
	if(NOT DEFINED ${v})
		message(FATAL_ERROR "layers.cmake: ${v} not given")
	endif()
endforeach()
include("${CONFIG}")

set(bad "")
foreach(f ${FILES})
	if(NOT EXISTS "${f}")
		message(FATAL_ERROR "layers: ${NAME}: ${f} does not exist")
	endif()
	file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"[^\"]*/[^\"]*\"")
	foreach(line ${lines})
		string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]*)\".*$" "\\1" h "${line}")
		list(FIND ALLOWED "${h}" at)
		if(at LESS 0)
			string(APPEND bad "  ${f}: #include \"${h}\"\n")
		endif()
	endforeach()
endforeach()
if(bad)
	string(REPLACE ";" " " allowed "${ALLOWED}")
	message(FATAL_ERROR "layers: ${NAME} includes headers of modules it does not link "
		"(a layer above it, or a module beside it):\n${bad}"
		"It may include: ${allowed}")
endif()
file(WRITE "${OUT}" "${NAME}: layering checked\n")
