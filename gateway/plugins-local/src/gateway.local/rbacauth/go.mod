module gateway.local/rbacauth

go 1.22
