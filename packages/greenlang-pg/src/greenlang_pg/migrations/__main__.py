from greenlang_pg.migrations import INI

print(INI)
