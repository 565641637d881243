# systemd/install.cmake - what `cmake --install` puts where (included by the
# top CMakeLists.txt).
#
#   zcached            ${prefix}/sbin       a daemon, as is usual; mount(8) runs
#                                           helpers with PATH
#                                           /usr/local/sbin:/usr/local/bin:
#                                           /usr/sbin:/usr/bin:/sbin:/bin and
#                                           mount.fuse3 runs the program named
#                                           after "fuse.", so `mount -t
#                                           fuse.zcached` and fstab lines find
#                                           it with the default prefix
#                                           (/usr/local) or /usr.
#   zcachectl          ${prefix}/bin        any user may run it
#   zcached@.service   the systemd system unit directory (below)
#   zcached.8, zcachectl.8, zcached-stats.5   ${prefix}/share/man/man{8,5}
#
# The unit directory: ZC_SYSTEMD_UNITDIR if set; else, for the prefix /usr,
# systemd's own (pkg-config systemd systemdsystemunitdir: /lib/systemd/system
# on Debian); else ${prefix}/lib/systemd/system, which systemd also searches
# for /usr/local (see `systemd-analyze unit-paths`) and which keeps a
# non-root install inside its prefix.
#
# The unit in the tree runs /usr/local/sbin/zcached; at install time that
# path is replaced by the one zcached is installed to, computed from the
# prefix in force then (so `cmake --install --prefix DIR` is honoured), and
# the result is written into the build tree and installed from there.
include(GNUInstallDirs)

set(ZC_SYSTEMD_UNITDIR "" CACHE PATH
	"Where to install zcached@.service (empty: systemd's unit directory for the prefix /usr, else PREFIX/lib/systemd/system)")

if(TARGET zcached)
	install(TARGETS zcached RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
endif()
if(TARGET zcachectl)
	install(TARGETS zcachectl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

foreach(page zcached.8 zcachectl.8 zcached-stats.5)
	set(src "${PROJECT_SOURCE_DIR}/man/${page}")
	if(EXISTS "${src}")
		string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section "${page}")
		install(FILES "${src}" DESTINATION "${CMAKE_INSTALL_MANDIR}/man${section}")
	endif()
endforeach()

set(zc_unit_src "${PROJECT_SOURCE_DIR}/systemd/zcached@.service")
if(EXISTS "${zc_unit_src}")
	set(zc_unitdir "${ZC_SYSTEMD_UNITDIR}")
	if(NOT zc_unitdir)
		set(zc_unitdir "lib/systemd/system")
		if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
			find_program(ZC_PKG_CONFIG pkg-config)
			if(ZC_PKG_CONFIG)
				execute_process(COMMAND ${ZC_PKG_CONFIG} --variable=systemdsystemunitdir systemd
					OUTPUT_VARIABLE zc_pc_unitdir OUTPUT_STRIP_TRAILING_WHITESPACE
					RESULT_VARIABLE zc_pc_result ERROR_QUIET)
				if(zc_pc_result EQUAL 0 AND zc_pc_unitdir)
					set(zc_unitdir "${zc_pc_unitdir}")
				endif()
			endif()
		endif()
	endif()
	set(zc_unit_gen "${CMAKE_BINARY_DIR}/systemd/zcached@.service")
	# Written at install time, with the prefix of that moment.  The
	# escaped \${...} are the install script's variables.
	install(CODE "
		set(zc_sbindir \"${CMAKE_INSTALL_SBINDIR}\")
		if(NOT IS_ABSOLUTE \"\${zc_sbindir}\")
			set(zc_sbindir \"\${CMAKE_INSTALL_PREFIX}/\${zc_sbindir}\")
		endif()
		file(READ \"${zc_unit_src}\" zc_unit)
		string(REPLACE \"/usr/local/sbin/zcached \" \"\${zc_sbindir}/zcached \" zc_unit \"\${zc_unit}\")
		file(WRITE \"${zc_unit_gen}\" \"\${zc_unit}\")
	")
	install(FILES "${zc_unit_gen}" DESTINATION "${zc_unitdir}")
endif()
