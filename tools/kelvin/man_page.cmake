# Writes the kelvin(1) man page with help2man from the built CLI's own --help:
# the top-level help, then a COMMANDS section with every subcommand's --help
# (found from the "Subcommands:" list, nested ones included), then the
# sections of kelvin.h2m. The page is gzipped as Debian installs man pages.
# cmake -DKELVIN=<cli> -DHELP2MAN=... -DGZIP=... -DINCLUDE=kelvin.h2m -DOUTPUT=kelvin.1.gz
#       -P man_page.cmake
cmake_minimum_required(VERSION 3.25)

function(help out_var)
  execute_process(COMMAND ${KELVIN} ${ARGN} --help OUTPUT_VARIABLE text RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "kelvin ${ARGN} --help failed (${rc})")
  endif()
  set(${out_var} "${text}" PARENT_SCOPE)
endfunction()

# The names listed under "Subcommands:" in a help text.
function(subcommands text out_var)
  set(names "")
  if(text MATCHES "\nSubcommands:\n(.*)")
    string(REGEX REPLACE "\n\n.*" "" block "${CMAKE_MATCH_1}")
    string(REPLACE "\n" ";" lines "${block}")
    foreach(line IN LISTS lines)
      if(line MATCHES "^  ([A-Za-z0-9_-]+)")
        list(APPEND names ${CMAKE_MATCH_1})
      endif()
    endforeach()
  endif()
  set(${out_var} "${names}" PARENT_SCOPE)
endfunction()

# Roff for one command's help text, preformatted: the text up to its
# "Examples:" footer (the application's, repeated by every subcommand).
function(roff_section title text out_var)
  string(REGEX REPLACE "\nExamples:\n.*" "\n" text "${text}")
  string(REPLACE "\\" "\\e" text "${text}")
  string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
  set(${out_var} ".SS ${title}\n.nf\n${text}.fi\n" PARENT_SCOPE)
endfunction()

set(commands "")
function(walk)
  help(text ${ARGN})
  subcommands("${text}" names)
  foreach(name IN LISTS names)
    help(sub ${ARGN} ${name})
    string(JOIN " " title kelvin ${ARGN} ${name})
    roff_section("${title}" "${sub}" section)
    string(APPEND commands "${section}")
    walk(${ARGN} ${name})  # appends the nested commands to ours
  endforeach()
  set(commands "${commands}" PARENT_SCOPE)
endfunction()
walk()

get_filename_component(dir ${OUTPUT} DIRECTORY)
set(generated ${dir}/kelvin-commands.h2m)
file(WRITE ${generated} "[COMMANDS]\n${commands}")
string(REGEX REPLACE "\\.gz$" "" page ${OUTPUT})
execute_process(COMMAND ${HELP2MAN} --no-info --no-discard-stderr --section 1
                        --include ${INCLUDE} --include ${generated} --output ${page} ${KELVIN}
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "help2man failed (${rc})")
endif()
# -n: no name or time stamp in the header, so the page is reproducible.
execute_process(COMMAND ${GZIP} -9nf ${page} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "gzip failed (${rc})")
endif()
