<%@ page test.jsp of the keepalived-rs IPVS tests %>
OK
