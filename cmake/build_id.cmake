# build_id.cmake: writes OUT, a C file defining cg_build_id, a SHA-256 of the
# compiler's sources (every file under ir/ frontend/ passes/ codegen/
# runtime/ cli/ of ROOT, by path and content; cli/ makes the whole-model
# key of the cache from the YAML text). The compile cache puts it in every
# key, so an entry made by other sources of seqc is never found. Run by
# codegen/CMakeLists.txt whenever one of those files changes:
#   cmake -DROOT=SRC -DOUT=FILE -P build_id.cmake
set(globs)
foreach(dir ir frontend passes codegen runtime cli)
  list(APPEND globs ${ROOT}/${dir}/*)
endforeach()
file(GLOB_RECURSE files LIST_DIRECTORIES false RELATIVE ${ROOT} ${globs})
list(SORT files)
set(all "")
foreach(f ${files})
  file(SHA256 ${ROOT}/${f} h)
  string(APPEND all "${f} ${h}\n")
endforeach()
string(SHA256 id "${all}")
set(text "/* written by cmake/build_id.cmake: a hash of the compiler's sources (cg_internal.h) */\nconst char cg_build_id[] = \"${id}\";\n")
# rewritten only when it changes, so that an unchanged id rebuilds nothing
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
