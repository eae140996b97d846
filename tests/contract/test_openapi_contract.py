"""The contract checker itself: each named repair of the OpenAPI documents, and what it still refuses."""

from __future__ import annotations

import pytest

from tests.support.openapi_contract import ContractViolation, validate_request, validate_response
from tests.support.swagger2 import UnsupportedSwagger, to_openapi3

BASIC = {"Authorization": "Basic YWRtaW46YWRtaW4="}
JSON = {"Content-Type": "application/json;charset=UTF-8"}
JIRA = "http://jira.example/jira/rest/api/2"
CONFLUENCE = "http://wiki.example/confluence/rest/api"
BITBUCKET = "http://git.example/rest/api"


def test_credentials_basic_or_bearer_are_required():
    validate_request("jira", "GET", f"{JIRA}/user?username=a", BASIC)
    validate_request("jira", "GET", f"{JIRA}/user?username=a", {"Authorization": "Bearer pat"})
    with pytest.raises(ContractViolation, match="Security"):
        validate_request("jira", "GET", f"{JIRA}/user?username=a", {})


def test_calls_outside_the_admin_sync_resources_or_rest_are_refused():
    with pytest.raises(ContractViolation, match="PathNotFound"):
        validate_request("jira", "GET", f"{JIRA}/issue/ABC-1", BASIC)
    with pytest.raises(ContractViolation, match="not a REST URL"):
        validate_request("jira", "GET", "http://jira.example/secure/Dashboard.jspa", BASIC)


def test_request_bodies_and_parameters_are_checked():
    validate_request(
        "jira", "POST", f"{JIRA}/user", {**BASIC, **JSON}, {"name": "a", "applicationKeys": ["jira-software"]}
    )
    with pytest.raises(ContractViolation, match="applicationKeys"):
        validate_request("jira", "POST", f"{JIRA}/user", {**BASIC, **JSON}, {"name": "a", "applicationKeys": "x"})
    with pytest.raises(ContractViolation, match="emailAddress"):
        validate_request("bitbucket", "POST", f"{BITBUCKET}/latest/admin/users?name=a&displayName=A", BASIC)


def test_jira_array_answers_are_arrays():
    validate_response("jira", "GET", f"{JIRA}/user/search?username=a", 200, JSON, [{"name": "a"}])
    validate_response("jira", "GET", f"{JIRA}/applicationrole", 200, JSON, [{"key": "jira-software"}])
    with pytest.raises(ContractViolation):
        validate_response("jira", "GET", f"{JIRA}/user/search?username=a", 200, JSON, {"name": "a"})


def test_jira_group_members_take_a_query_groupname_and_answer_a_page():
    validate_request("jira", "GET", f"{JIRA}/group/member?groupname=devs&startAt=0", BASIC)
    page = {"startAt": 0, "maxResults": 50, "total": 1, "isLast": True, "values": [{"name": "a", "active": True}]}
    validate_response("jira", "GET", f"{JIRA}/group/member?groupname=devs", 200, JSON, page)
    with pytest.raises(ContractViolation, match="groupname"):
        validate_request("jira", "GET", f"{JIRA}/group/member", BASIC)
    with pytest.raises(ContractViolation):
        validate_response(
            "jira", "GET", f"{JIRA}/group/member?groupname=d", 200, JSON, {**page, "values": [{"active": "y"}]}
        )


def test_latest_aliases_are_mapped_onto_the_documented_version():
    validate_request("jira", "GET", "http://jira.example/rest/api/latest/user?username=a", BASIC)
    validate_request("bitbucket", "GET", f"{BITBUCKET}/1.0/users/a", BASIC)


def test_confluence_duplicate_parameters_keep_the_typed_copy():
    validate_request("confluence", "GET", f"{CONFLUENCE}/user/list?start=0&limit=10", BASIC)
    with pytest.raises(ContractViolation, match="start"):
        validate_request("confluence", "GET", f"{CONFLUENCE}/user/list?start=zero", BASIC)


def test_confluence_member_of_lists_groups_and_members_path_is_a_name():
    validate_request("confluence", "GET", f"{CONFLUENCE}/group/team-a/member?limit=5", BASIC)
    groups = {"results": [{"type": "group", "name": "team-a"}], "start": 0, "limit": 200, "size": 1}
    validate_response("confluence", "GET", f"{CONFLUENCE}/user/memberof?username=a", 200, JSON, groups)


def test_confluence_rest_error_lists_its_errors_and_undeclared_404s_are_named():
    error = {
        "statusCode": 404,
        "data": {"authorized": False, "valid": True, "errors": []},
        "message": "m",
        "reason": "r",
    }
    validate_response("confluence", "GET", f"{CONFLUENCE}/group/nope", 404, JSON, error)
    validate_response("confluence", "PUT", f"{CONFLUENCE}/user/a/group/nope", 404, JSON, error)
    with pytest.raises(ContractViolation, match="404"):
        validate_response("confluence", "GET", f"{CONFLUENCE}/group", 404, JSON, error)
    with pytest.raises(ContractViolation):
        validate_response("confluence", "GET", f"{CONFLUENCE}/group/x", 404, JSON, {**error, "statusCode": "404"})


def test_bodyless_successes_need_no_body():
    validate_response("confluence", "PUT", f"{CONFLUENCE}/admin/user/a", 204, {}, b"")
    validate_response("bitbucket", "POST", f"{BITBUCKET}/latest/admin/users/add-groups", 200, {}, b"")


def test_bitbucket_repairs():
    groups = {"size": 1, "limit": 25, "isLastPage": True, "start": 0, "values": [{"name": "g", "deletable": True}]}
    validate_response("bitbucket", "GET", f"{BITBUCKET}/latest/admin/users/more-members?context=a", 200, JSON, groups)
    validate_response("bitbucket", "GET", f"{BITBUCKET}/latest/admin/user-directories", 200, JSON, [{"name": "d"}])
    user = {"name": "a", "slug": "a", "id": 1, "links": {"self": [{"href": "http://git.example/users/a"}]}}
    validate_response(
        "bitbucket", "GET", f"{BITBUCKET}/latest/users/a", 200, {"Content-Type": "application/json"}, user
    )
    error = {"errors": [{"context": None, "message": "m", "exceptionName": "e"}]}
    validate_response("bitbucket", "DELETE", f"{BITBUCKET}/latest/admin/users?name=a", 404, JSON, error)
    with pytest.raises(ContractViolation):
        validate_response("bitbucket", "GET", f"{BITBUCKET}/latest/users/a", 200, JSON, {**user, "id": "one"})


def test_answers_of_the_front_filters():
    html = {"Content-Type": "text/html", "X-Seraph-LoginReason": "AUTHENTICATED_FAILED"}
    validate_response("confluence", "POST", f"{CONFLUENCE}/admin/user", 401, html, b"<html>")
    validate_response("bitbucket", "POST", f"{BITBUCKET}/latest/admin/groups?name=g", 403, {}, b"XSRF check failed")
    validate_response("jira", "GET", f"{JIRA}/user?username=a", 429, {"Retry-After": "3"}, b"")
    with pytest.raises(ContractViolation, match="Retry-After"):
        validate_response("jira", "GET", f"{JIRA}/user?username=a", 429, {}, b"")
    with pytest.raises(ContractViolation, match="text/html"):
        validate_response("confluence", "POST", f"{CONFLUENCE}/admin/user", 401, {"Content-Type": "text/html"}, b"<p>")


def test_absent_documents_skip_the_calling_test(monkeypatch, tmp_path):
    monkeypatch.setenv("SCIM_BRIDGE_REFERENCE_DIR", str(tmp_path))

    with pytest.raises(pytest.skip.Exception, match="SCIM_BRIDGE_REFERENCE_DIR"):
        validate_request("jira", "GET", f"{JIRA}/user?username=a", BASIC)


CROWD = "http://id.example/crowd/rest/usermanagement/1"


def test_crowds_swagger2_description_is_converted_and_still_refuses_what_it_refused():
    validate_request("crowd", "POST", f"{CROWD}/user/rename?username=a", {**BASIC, **JSON}, {"new-name": "b"})
    validate_response("crowd", "POST", f"{CROWD}/user/rename?username=a", 200, JSON, {"name": "b", "active": True})
    with pytest.raises(ContractViolation, match="Security"):
        validate_request("crowd", "GET", f"{CROWD}/user?username=a", {"Authorization": "Bearer pat"})
    with pytest.raises(ContractViolation, match="groupname"):
        validate_request("crowd", "DELETE", f"{CROWD}/group/user/direct?username=a", BASIC)
    with pytest.raises(ContractViolation):
        validate_response("crowd", "GET", f"{CROWD}/user?username=a", 200, JSON, {"name": "a", "active": "yes"})
    with pytest.raises(ContractViolation, match="PathNotFound"):
        validate_request("crowd", "GET", f"{CROWD}/authentication", BASIC)


def test_crowd_repairs_add_the_direct_reads_paging_and_undeclared_errors():
    validate_request("crowd", "GET", f"{CROWD}/user/group/direct?username=a&start-index=0&max-results=5", BASIC)
    validate_response("crowd", "GET", f"{CROWD}/group/user/direct?groupname=g", 200, JSON, {"users": [{"name": "a"}]})
    validate_request("crowd", "GET", f"{CROWD}/search?entity-type=user&expand=user&start-index=0", BASIC)
    with pytest.raises(ContractViolation, match="start-index"):
        validate_request("crowd", "GET", f"{CROWD}/search?entity-type=user&start-index=first", BASIC)
    with pytest.raises(ContractViolation, match="username"):
        validate_request("crowd", "GET", f"{CROWD}/user/group/direct", BASIC)
    validate_response("crowd", "DELETE", f"{CROWD}/group?groupname=g", 403, JSON,
                      {"reason": "APPLICATION_PERMISSION_DENIED", "message": "m"})
    with pytest.raises(ContractViolation):
        validate_response("crowd", "DELETE", f"{CROWD}/group?groupname=g", 403, JSON, {"message": "m"})
    # Wrong application credentials: the authentication filter's answer, before any resource.
    validate_response("crowd", "GET", f"{CROWD}/user?username=a", 401, {"WWW-Authenticate": "Basic"}, b"no")


def test_the_swagger2_converter_refuses_what_it_does_not_translate():
    document = {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {"/x": {"post": {
        "parameters": [{"name": "f", "in": "formData", "type": "string"}], "responses": {"200": {"description": "ok"}},
        "consumes": ["multipart/form-data"]}}}}

    with pytest.raises(UnsupportedSwagger, match="formData"):
        to_openapi3(document, "http://{h}/x", {"h": {"default": "h"}})
