# deploy/package.cmake - installation beyond the programs, and the Debian
# package (included at the end of CMakeLists.txt).
#
#   cmake --install BUILD [--prefix DIR]   programs, schemas catalogue, man
#                                          pages, systemd units, sample config
#   cpack --config BUILD/CPackConfig.cmake a .deb depending on Debian's
#                                          runtime library packages
#
# Build a package for a Debian system with -DCMAKE_INSTALL_PREFIX=/usr:
# the programs find their data under the prefix they were configured with,
# and the package installs under that same prefix.
include(GNUInstallDirs)

# ---- systemd units: deploy/systemd/*.in with the sandbox block and paths --
set(EDIX_BINDIR "${CMAKE_INSTALL_FULL_BINDIR}")
file(READ ${CMAKE_SOURCE_DIR}/deploy/systemd/sandbox.inc EDIX_SYSTEMD_SANDBOX)
set(EDIX_UNIT_BUILD_DIR ${CMAKE_BINARY_DIR}/deploy/systemd)
set(edix_units)
foreach(unit edix-hub.service edix-intake.service edix-validator@.service edix-router.service
        edix-purge.service)
  configure_file(${CMAKE_SOURCE_DIR}/deploy/systemd/${unit}.in ${EDIX_UNIT_BUILD_DIR}/${unit} @ONLY)
  list(APPEND edix_units ${EDIX_UNIT_BUILD_DIR}/${unit})
endforeach()
foreach(unit edix.target edix-purge.timer)
  configure_file(${CMAKE_SOURCE_DIR}/deploy/systemd/${unit} ${EDIX_UNIT_BUILD_DIR}/${unit} COPYONLY)
  list(APPEND edix_units ${EDIX_UNIT_BUILD_DIR}/${unit})
endforeach()
# lib/systemd/system under the prefix: /usr/lib/systemd/system for a package,
# /usr/local/lib/systemd/system for a local install; systemd reads both
install(FILES ${edix_units} DESTINATION lib/systemd/system)
install(FILES deploy/systemd/edix.sysusers DESTINATION lib/sysusers.d RENAME edix.conf)
install(PROGRAMS deploy/fetch-ubl-schemas DESTINATION ${CMAKE_INSTALL_BINDIR}
        RENAME edix-fetch-ubl-schemas)
install(FILES README.md docs/design.md docs/protocol.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- man pages and the sample config, made from the programs themselves ---
# One source of truth: each page is made from the program's --help, and
# edix.conf(5) and edix.conf.sample from edix_config_template() (what init
# writes), so none of them can drift from the code.
if(Python3_FOUND)
  set(EDIX_MAN_DIR ${CMAKE_BINARY_DIR}/man)
  set(mkman ${CMAKE_SOURCE_DIR}/docs/man/mkman.py)
  set(edix_pages edix-admin.1 edix-partner.1 edix-hub.8 edix-intake.8 edix-validator.8
      edix-router.8 edix-fetch-ubl-schemas.8 edix.conf.5)
  string(REPLACE ";" "," edix_see_also "${edix_pages}")
  set(edix_man_outputs)
  foreach(page ${edix_pages})
    string(REGEX REPLACE "\\.([0-9])$" "" name ${page})
    string(REGEX REPLACE "^.*\\.([0-9])$" "\\1" section ${page})
    set(out ${EDIX_MAN_DIR}/${page}.gz)
    if(name STREQUAL "edix.conf")
      set(cmd --config -- $<TARGET_FILE:edix-admin> config sample)
      set(deps edix-admin)
    elseif(name STREQUAL "edix-fetch-ubl-schemas")
      set(cmd -- sh ${CMAKE_SOURCE_DIR}/deploy/fetch-ubl-schemas --help)
      set(deps ${CMAKE_SOURCE_DIR}/deploy/fetch-ubl-schemas)
    else()
      set(cmd -- $<TARGET_FILE:${name}> --help)
      set(deps ${name})
    endif()
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${EDIX_MAN_DIR}
      COMMAND ${Python3_EXECUTABLE} ${mkman} --section ${section} --version ${PROJECT_VERSION}
              --see-also ${edix_see_also} --output ${out} ${cmd}
      DEPENDS ${deps} ${mkman}
      COMMENT "man page ${page}" VERBATIM)
    list(APPEND edix_man_outputs ${out})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  set(edix_sample ${CMAKE_BINARY_DIR}/deploy/edix.conf.sample)
  add_custom_command(OUTPUT ${edix_sample}
    COMMAND ${Python3_EXECUTABLE} ${mkman} --raw --section 5 --version ${PROJECT_VERSION}
            --output ${edix_sample} -- $<TARGET_FILE:edix-admin> config sample
    DEPENDS edix-admin ${mkman}
    COMMENT "edix.conf.sample" VERBATIM)
  add_custom_target(edix-docs ALL DEPENDS ${edix_man_outputs} ${edix_sample})
  install(FILES ${edix_sample} DESTINATION ${CMAKE_INSTALL_DOCDIR})
else()
  message(WARNING "python3 not found: no man pages")
endif()

# ---- the Debian package ---------------------------------------------------
# cpack packages what was built (and tested), and never rebuilds on the
# way: the test that makes a package runs beside tests using the programs
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME edix)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "edix")
set(CPACK_PACKAGE_CONTACT "edix maintainers <root@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "B2B EDI exchange hub for UBL 2.1 documents")
set(CPACK_PACKAGE_DESCRIPTION
    "edix passes UBL 2.1 business documents (orders, invoices, despatch advices, ...) between\n"
    "trading partners over CURVE-encrypted ZeroMQ, validates them against the official\n"
    "OASIS schemas and business rules, delivers them reliably and records every step in a\n"
    "hash-chained audit log.  The OASIS schemas are not included: edix-fetch-ubl-schemas\n"
    "downloads and checks them.")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends: Debian's runtime library packages, worked out by dpkg-shlibdeps
# (dpkg-dev) from the libraries the programs really link, with the versions
# their symbols need; tests/integration/test_deploy.py checks the result
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "curl | wget, unzip")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst ${CMAKE_SOURCE_DIR}/deploy/debian/prerm
    ${CMAKE_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES OFF)
include(CPack)
