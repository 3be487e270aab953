"""The providers' request signatures, checked against the examples in their documentation."""

from __future__ import annotations

from kefu.conversations.adapters.sms import aliyun_signature, e164, percent_encode, tc3_authorization

# Aliyun SMS "签名机制" example: AccessKeyId testId, AccessKeySecret testSecret, GET.
ALIYUN_SEND_SMS = {
    "AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123", "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用", "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466", "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007", "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}


def test_aliyun_documented_send_sms_example() -> None:
    assert aliyun_signature(ALIYUN_SEND_SMS, "testSecret", "GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    # the Signature parameter itself is not signed
    assert aliyun_signature({**ALIYUN_SEND_SMS, "Signature": "x"}, "testSecret", "GET") == (
        "zJDF+Lrzhj/ThnlvIToysFRq6t4=")


def test_aliyun_documented_rpc_example() -> None:
    params = {"Format": "XML", "AccessKeyId": "testid", "Action": "DescribeRegions", "SignatureMethod": "HMAC-SHA1",
              "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0",
              "Version": "2014-05-26", "Timestamp": "2016-02-23T12:46:24Z"}
    assert aliyun_signature(params, "testsecret", "GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_aliyun_percent_encoding_rules() -> None:
    assert percent_encode("a b") == "a%20b"
    assert percent_encode("*") == "%2A"
    assert percent_encode("~-_.") == "~-_."
    assert percent_encode("/=&+") == "%2F%3D%26%2B"
    assert percent_encode("派") == "%E6%B4%BE"


def test_tencent_documented_tc3_example() -> None:
    # Tencent Cloud API 3.0 "Signature v3" example: CVM DescribeInstances at 1551113065.
    payload = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    header = tc3_authorization(secret_id="AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
                               secret_key="Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", service="cvm",
                               host="cvm.tencentcloudapi.com", payload=payload, timestamp=1551113065)
    assert header == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host, "
        "Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168")


def test_tc3_date_is_the_utc_date() -> None:
    # 2019-02-26 00:44:25 in Beijing is still the 25th in UTC (the documentation's warning)
    header = tc3_authorization(secret_id="id", secret_key="k", service="sms", host="sms.tencentcloudapi.com",
                               payload=b"{}", timestamp=1551113065)
    assert "/2019-02-25/sms/tc3_request" in header


def test_phone_numbers_in_e164() -> None:
    assert e164("13800138000") == "+8613800138000"
    assert e164("0085261234567") == "+85261234567"
