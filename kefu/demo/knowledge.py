"""The demo's knowledge base: categories, published articles in Chinese and English with customers' ways of
asking, one internal article, one edit waiting for review, intake submissions from the departments, and a month of
questions asked (the consultation library) with the gaps the bot could not answer. Made through the services."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from kefu.accounts.models import Department, User

CATEGORIES = [  # slug, name, English name, position
    ("repairs", "报修服务", "Repairs", 10),
    ("payments", "物业缴费", "Payments", 20),
    ("access-parking", "门禁与停车", "Access and parking", 30),
    ("renovation", "装修管理", "Renovation", 40),
    ("account-app", "账户与 App", "Account and app", 50),
]

# category, department code, language, visibility, title, body, spoken, questions, tags
ARTICLES: list[tuple[str, str | None, str, str, str, str, str, list[str], list[str]]] = [
    ("repairs", "repair", "zh-hans", "public", "家里漏水了怎么报修？",
     "1. 先关闭总水阀，避免水漫到楼下。\n2. 拨打客服热线 400-800-1234，或在 App 首页点“报修”，拍照描述漏水位置。\n"
     "3. 维修师傅会在 2 小时内联系您，紧急漏水 30 分钟内上门。\n4. 保修期内的维修免收人工费，材料费按价目表收取。",
     "请先关闭总水阀，再拨打热线或在 App 里报修，紧急漏水半小时内上门。",
     ["家里漏水怎么办", "水管爆了找谁", "卫生间漏水到楼下了", "怎么报修漏水", "厨房水管滴水"], ["漏水", "报修"]),
    ("repairs", "repair", "zh-hans", "public", "上门维修收费标准",
     "保修期内：人工费全免，更换的配件按成本价收取。\n"
     "保修期外：上门费 30 元（同一次上门修多处只收一次），人工费按项目计价，"
     "详见 App“服务价目表”。\n维修完成后请在工单里确认并评价，费用可在线支付。",
     "保修期内免人工费；保修期外上门费三十元，人工费按价目表。",
     ["维修要收费吗", "上门费多少钱", "修东西怎么收费", "保修期内维修免费吗"], ["收费"]),
    ("repairs", "engineering", "zh-hans", "public", "电梯停了或被困怎么办？",
     "被困在电梯里：请保持冷静，按下轿厢内的黄色警铃按钮或拨打电梯内张贴的 24 小时救援电话，救援人员 15 分钟内到达。"
     "不要扒门，也不要尝试自行爬出。\n电梯停运：工程部会在大堂张贴通知和预计恢复时间，您也可以拨打客服热线查询。",
     "被困请按警铃或拨打电梯内的救援电话，十五分钟内到达，请不要扒门。",
     ["电梯坏了", "被困电梯里了", "电梯什么时候修好", "电梯停运了"], ["电梯", "紧急"]),
    ("payments", "finance", "zh-hans", "public", "物业费怎么交？",
     "您可以通过以下方式缴纳物业费：\n· App 首页“缴费”，支持微信、支付宝和银行卡；\n· 物业服务中心前台刷卡或扫码；\n"
     "· 开通银行代扣，每季度自动扣款。\n缴费成功后电子收据会发送到 App“我的账单”。",
     "可以在 App 缴费，也可以到服务中心前台或者开通银行代扣。",
     ["物业费在哪交", "怎么交物业费", "可以微信交物业费吗", "物业费能自动扣款吗"], ["缴费"]),
    ("payments", "finance", "zh-hans", "public", "怎么开物业费发票？",
     "在 App“我的账单”里选择已缴费的账单，点“申请发票”，填写抬头和税号，电子发票 3 个工作日内发到您的邮箱。"
     "需要增值税专用发票的企业客户，请携带营业执照复印件到服务中心办理。",
     "",
     ["物业费发票怎么开", "可以开发票吗", "电子发票在哪里下载", "发票抬头写错了怎么办"], ["发票"]),
    ("access-parking", "security", "zh-hans", "public", "门禁卡丢了怎么补办？",
     "请本人携带身份证到物业服务中心办理：先挂失旧卡（也可以在 App 里立即挂失），再补办新卡，工本费 20 元，当场可取。"
     "租户需同时出示租赁合同。",
     "请带身份证到服务中心补办，工本费二十元，当场可取。",
     ["门禁卡丢了", "补办门禁卡", "门禁卡坏了刷不开", "门卡多少钱"], ["门禁"]),
    ("access-parking", "security", "zh-hans", "public", "访客车辆怎么进小区？",
     "业主可以在 App“访客通行”里提前登记访客车牌，车辆到达后道闸自动识别放行，免费停放 2 小时，超时按临停标准收费。"
     "未登记的访客请在岗亭登记并由业主电话确认。",
     "",
     ["朋友开车来怎么进", "访客停车收费吗", "外来车辆怎么登记", "访客车能停多久"], ["停车"]),
    ("renovation", "engineering", "zh-hans", "public", "装修需要办理什么手续？",
     "开工前请到服务中心办理装修登记：\n1. 提交装修申请表、施工图纸和施工单位资质；\n"
     "2. 缴纳装修押金 2000 元（验收合格后退还）；\n"
     "3. 领取装修许可证并张贴在门上。\n施工时间：工作日 8:00-12:00、14:00-18:00，周末和节假日禁止有噪音的施工。",
     "开工前请到服务中心登记并缴纳两千元押金，周末禁止有噪音的施工。",
     ["装修要审批吗", "装修押金多少", "装修时间有规定吗", "周末可以装修吗"], ["装修"]),
    ("account-app", None, "zh-hans", "public", "如何修改 App 登录密码？",
     "打开 App，进入“我的 - 设置 - 账户安全 - 修改密码”，输入旧密码和新密码即可。\n忘记密码：在登录页点“忘记密码”，"
     "用注册手机号接收验证码后重新设置。",
     "",
     ["密码忘了怎么办", "怎么改密码", "App 登录不上", "重置密码"], ["账户"]),
    ("repairs", "repair", "zh-hans", "internal", "坐席内部：紧急维修派单规则",
     "以下情况按“紧急”派单给维修部，并电话通知值班主管：漏水影响楼下、停电、燃气异味、电梯困人。\n"
     "燃气异味：先提醒客户开窗、不要开关电器，再同时拨打燃气公司抢修电话。\n"
     "派单后 30 分钟内未确认的，升级给维修部经理。",
     "",
     ["哪些情况算紧急维修", "燃气味道怎么处理", "紧急派单找谁"], ["内部", "派单"]),
    ("payments", "finance", "en", "public", "How do I pay the property management fee?",
     "You can pay in the app (Pay on the home screen: WeChat Pay, Alipay or bank card), at the front desk of the "
     "service centre, or by a quarterly direct debit from your bank.\nThe electronic receipt appears under My bills.",
     "Pay in the app, at the service centre front desk, or by direct debit.",
     ["how to pay the management fee", "can I pay the property fee online", "where do I pay my service charge",
      "set up direct debit"], ["payments"]),
    ("repairs", "repair", "en", "public", "How do I report a leak or a repair?",
     "Turn off the main water valve first. Then call the hotline 400-800-1234 or tap Repair in the app and add a "
     "photo.\nA technician calls you back within 2 hours; urgent leaks get a visit within 30 minutes.\nLabour is free "
     "during the warranty period.",
     "Turn off the main valve, then call the hotline or report it in the app.",
     ["water is leaking", "how to report a repair", "my pipe burst", "who fixes a leaking tap"], ["repairs"]),
    ("access-parking", "security", "en", "public", "I lost my access card",
     "Bring your ID to the service centre: the old card is blocked (you can also block it at once in the app) and a "
     "new one is issued on the spot for 20 yuan. Tenants also show their lease.",
     "",
     ["lost access card", "replace my key card", "my door card does not work"], ["access"]),
    ("account-app", None, "en", "public", "How do I reset my app password?",
     "Open the app and go to Me - Settings - Account security - Change password.\nForgot it? Tap Forgot password on "
     "the sign-in screen and confirm with the code sent to your phone.",
     "",
     ["forgot my password", "change app password", "cannot log in to the app"], ["account"]),
]

INTAKE = [  # department user, questions, answer, category slug, state, reply
    ("repair1", "空调不制冷可以报修吗\n空调漏水找物业吗",
     "空调属于业主自有设备，物业可提供有偿维修：上门检测 50 元，维修另计；也可以联系空调品牌售后。", "repairs",
     "submitted", ""),
    ("finance1", "停车费可以开发票吗\n月租车位发票",
     "月租车位费可以开具电子发票，在 App“我的账单”里申请，3 个工作日内发到邮箱。", "payments", "accepted", ""),
    ("security1", "快递可以放门岗吗",
     "门岗不代收快递，请使用小区内的智能快递柜。", "access-parking", "rejected",
     "已有文章《快递柜使用说明》正在编写，内容会合并进去"),
]

GAPS = [  # question, times, language
    ("小区可以养宠物吗", 9, "zh-hans"), ("垃圾分类几点投放", 7, "zh-hans"), ("快递柜满了怎么办", 5, "zh-hans"),
    ("能不能帮忙开锁", 4, "zh-hans"), ("充电桩怎么申请安装", 3, "zh-hans"),
    ("Is there a gym in the building?", 2, "en"),
]

ASKED = [  # question, article title (None: unanswered), answered, helpful
    ("家里漏水怎么办", "家里漏水了怎么报修？", True, True), ("卫生间漏水到楼下了", "家里漏水了怎么报修？", True, True),
    ("水管爆了", "家里漏水了怎么报修？", True, None), ("上门费多少钱", "上门维修收费标准", True, True),
    ("修东西怎么收费", "上门维修收费标准", True, False), ("物业费在哪交", "物业费怎么交？", True, True),
    ("物业费可以微信交吗", "物业费怎么交？", True, True), ("物业费发票", "怎么开物业费发票？", True, None),
    ("门禁卡丢了", "门禁卡丢了怎么补办？", True, True), ("朋友开车来怎么进小区", "访客车辆怎么进小区？", True, None),
    ("电梯坏了", "电梯停了或被困怎么办？", True, True), ("装修押金多少", "装修需要办理什么手续？", True, True),
    ("密码忘了", "如何修改 App 登录密码？", True, None),
    ("how do I pay the fee", "How do I pay the property management fee?", True, True),
    ("my pipe is leaking", "How do I report a leak or a repair?", True, None),
    ("装修可以周末施工吗", "装修需要办理什么手续？", False, None), ("小区可以养宠物吗", None, False, None),
    ("垃圾分类几点投放", None, False, None), ("快递柜满了怎么办", None, False, None),
]


def make_knowledge(*, users: dict[str, User], now: datetime, seed: int = 2026) -> None:
    """The demo knowledge base (only when there is none yet)."""
    from django.db import transaction

    from kefu.knowledge.models import Article, Category, Consultation, Gap
    from kefu.knowledge.services.articles import (
        ArticleData,
        article_create,
        article_publish,
        article_submit,
        article_update,
    )
    from kefu.knowledge.services.categories import CategoryData, category_create
    from kefu.knowledge.services.insight import consultation_record, gap_note
    from kefu.knowledge.services.intake import IntakeData, intake_accept, intake_reject, intake_submit

    if Article.objects.exists():
        return
    rng = random.Random(seed)
    editor, reviewer = users["qa"], users["manager"]
    departments = {d.code: d for d in Department.objects.all()}
    shelves: dict[str, Category] = {}
    for slug, name, name_en, position in CATEGORIES:
        shelves[slug] = (Category.objects.filter(slug=slug).first()
                         or category_create(actor=reviewer, data=CategoryData(name=name, slug=slug, name_en=name_en,
                                                                               position=position)))
    made: dict[str, Any] = {}
    for slug, dept, language, visibility, title, body, spoken, questions, tags in ARTICLES:
        department = departments.get(dept) if dept else None
        data = ArticleData(title=title, body=body, language=language, questions=questions, spoken=spoken, tags=tags,
                           category_id=shelves[slug].pk, department_id=department.pk if department else None,
                           visibility=visibility, note="初稿")
        with transaction.atomic():
            article = article_create(actor=editor, data=data)
            article = article_submit(actor=editor, article=article)
            made[title] = article_publish(actor=reviewer, article=article)
    # an edit of a live article, waiting for review (the list shows "有待审核的修改")
    fee = made["上门维修收费标准"]
    latest = fee.latest
    edited = article_update(actor=editor, article=fee, expected_version=None, data=ArticleData(
        title=latest.title, body=latest.body.replace("上门费 30 元", "上门费 35 元"), language=fee.language,
        questions=[*latest.questions.values_list("text", flat=True), "夜间维修加价吗"], spoken=latest.spoken,
        tags=list(latest.tags), category_id=fee.category_id, department_id=fee.department_id,
        visibility=fee.visibility, note="2027 年起上门费调整为 35 元"))
    article_submit(actor=editor, article=edited)
    # a draft of one's own
    article_create(actor=editor, data=ArticleData(
        title="快递柜使用说明",
        body="小区内共有 3 组智能快递柜，位于 1 号、5 号、9 号楼大堂。\n取件码 24 小时有效，超时请联系快递员。",
        questions=["快递柜在哪", "取件码过期了"], category_id=shelves["access-parking"].pk, note="待补充收费说明"))

    for username, questions, answer, slug, state, reply in INTAKE:
        submitter = users.get(username)
        if submitter is None:
            continue
        submission = intake_submit(actor=submitter, data=IntakeData(questions=questions, answer=answer,
                                                                    category_id=shelves[slug].pk))
        if state == "accepted":
            intake_accept(actor=editor, submission=submission)
        elif state == "rejected":
            intake_reject(actor=editor, submission=submission, reply=reply)

    for question, times, language in GAPS:
        for _ in range(times):
            gap_note(question=question, language=language, source="handoff")
    closest = made["家里漏水了怎么报修？"]
    Gap.objects.filter(question="能不能帮忙开锁").update(best_article=closest, confidence=0.31)

    channels = ["chat", "chat", "wechat", "portal", "phone", "agent"]
    for day in range(45):
        for question, title, answered, helpful in ASKED:
            if rng.random() > 0.35:
                continue
            article = made.get(title) if title else None
            record = consultation_record(question=question, language="en" if question.isascii() else "zh-hans",
                                         channel=rng.choice(channels), article_id=article.pk if article else None,
                                         confidence=rng.uniform(0.7, 0.99) if answered else rng.uniform(0.1, 0.45),
                                         answered=answered)
            asked_at = now - timedelta(days=day, hours=rng.randint(0, 10), minutes=rng.randint(0, 59))
            rated = helpful if helpful is not None and rng.random() < 0.6 else None
            Consultation.objects.filter(pk=record.pk).update(asked_at=asked_at, helpful=rated)
    for title, up, down in (("家里漏水了怎么报修？", 42, 3), ("物业费怎么交？", 35, 1), ("上门维修收费标准", 18, 6),
                            ("门禁卡丢了怎么补办？", 12, 0), ("How do I pay the property management fee?", 6, 1)):
        Article.objects.filter(pk=made[title].pk).update(helpful_count=up, unhelpful_count=down,
                                                         view_count=up * 7 + down)
